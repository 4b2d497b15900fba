"""The scaling benchmark: windows per epoch, rows per size, and growth per doubling."""

import dataclasses

import pytest

from tests.bench.fake_runs import outcome
from visim.bench.scaling import runner
from visim.bench.scaling.growth import growth_findings
from visim.bench.scaling.runner import ScalingBench, run_scaling_bench, window_steps_for
from visim.bench.train.profiles import SCALING_PROFILES


def test_windows_divide_the_epoch_into_at_least_four():
    assert window_steps_for(16) == 4
    assert window_steps_for(12) == 3
    assert window_steps_for(13) == 1  # a prime: every step its own window
    assert window_steps_for(3) == 1
    assert window_steps_for(1) == 1


def test_profile_needs_two_sizes_on_each_axis():
    cpu = SCALING_PROFILES["cpu"]
    with pytest.raises(ValueError, match="--sizes needs at least two different values"):
        dataclasses.replace(cpu, dataset_sizes=(512,))
    with pytest.raises(ValueError, match="--backend: unknown 'pillow'"):
        dataclasses.replace(cpu, backend="pillow")


def test_rows_report_epoch_time_memory_and_growth(monkeypatch, tmp_path):
    def fake_run(case, workdir, timeout_s):
        # Per-image cost falls as the batch grows; memory grows with the batch alone.
        rate = {16: 100.0, 32: 160.0}[case.batch_size]
        steps = case.samples // case.batch_size
        return outcome(case, rate, steps_per_epoch=steps, rss=500.0 + 10 * case.batch_size)

    monkeypatch.setattr(runner, "run_case", fake_run)
    profile = dataclasses.replace(
        SCALING_PROFILES["cpu"],
        backend="synthetic",
        dataset_sizes=(64, 128, 256),
        batch_sizes=(16, 32),
    )
    bench = ScalingBench(profile, "cpu", workers=0, case_timeout_s=60)
    rows = run_scaling_bench(bench, tmp_path, progress=lambda line: None)

    assert [(r["images"], r["batch_size"], r["status"]) for r in rows] == [
        (64, 16, "ok"),
        (64, 32, "ok"),
        (128, 16, "ok"),
        (128, 32, "ok"),
        (256, 16, "ok"),
        (256, 32, "ok"),
    ]
    last = rows[-1]
    assert last["steps_per_epoch"] == 8
    assert last["epoch_s"] == pytest.approx(256 / 160.0)
    # The first epoch includes the slow warm-up window, so it took longer than later ones.
    assert last["first_epoch_s"] > last["epoch_s"]
    assert last["epoch_growth_data"] == pytest.approx(2.0)
    assert last["epoch_growth_batch"] == pytest.approx(100.0 / 160.0)
    assert "epoch_growth_data" not in rows[0] and "epoch_growth_batch" not in rows[0]

    lines = growth_findings(rows, profile.dataset_sizes, profile.batch_sizes)
    assert "epoch time per doubling of the data set, batch 16: x2.00 (64 -> 256 images)" in lines
    assert "peak RSS per doubling of the data set, batch 32: x1.00 (64 -> 256 images)" in lines
    assert "epoch time per doubling of the batch, 64 images: x0.62 (batch 16 -> 32)" in lines


def test_an_epoch_too_short_to_time_is_skipped_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "run_case", lambda case, workdir, timeout_s: outcome(case, 1.0))
    profile = dataclasses.replace(
        SCALING_PROFILES["cpu"], backend="synthetic", dataset_sizes=(40, 80), batch_sizes=(32, 64)
    )
    rows = run_scaling_bench(ScalingBench(profile, "cpu", 0, 60), tmp_path, lambda line: None)
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert [(r["images"], r["batch_size"]) for r in skipped] == [(40, 32), (40, 64), (80, 64)]
    assert skipped[0]["reason"] == "40 images at batch 32 make 1 step(s); need at least 2"
