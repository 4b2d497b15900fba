"""The training benchmark: which cases it runs, how rows compare, what the findings say."""

import dataclasses

import pytest

from tests.bench.fake_runs import outcome
from visim.bench.train import throughput as train_throughput
from visim.bench.train.findings import factor_effects, stall_findings, target_findings
from visim.bench.train.matrix import ModelAxes, model_settings
from visim.bench.train.profiles import TRAIN_PROFILES
from visim.bench.train.throughput import TrainBench, run_train_bench, settings_for_real_data

AXES = ModelAxes(
    method=("vi-simsiam", "simsiam"),
    arch=("resnet18",),
    precision=("fp32", "bf16"),
    channels_last=(True, False),
    compile=(False,),
)


def tiny_bench(axes: ModelAxes = AXES) -> TrainBench:
    profile = dataclasses.replace(
        TRAIN_PROFILES["cpu"],
        axes=axes,
        size=16,
        batch_size=4,
        window_steps=2,
        bf16_window_steps=1,
        windows=2,
    )
    return TrainBench(profile, "cpu", workers=0, data=None, beton=None, case_timeout_s=60)


def test_cross_sweep_measures_every_combination():
    settings = model_settings(AXES, "cross")
    assert len(settings) == 2 * 2 * 2
    assert settings[0] == AXES.baseline()
    assert len({tuple(s.values()) for s in settings}) == len(settings)


def test_one_at_a_time_changes_a_single_axis_per_setting():
    settings = model_settings(AXES, "one-at-a-time")
    baseline = AXES.baseline()
    assert settings[0] == baseline
    assert len(settings) == 1 + 1 + 1 + 1  # method, precision, channels_last changed
    for setting in settings[1:]:
        assert sum(setting[k] != baseline[k] for k in baseline) == 1


def test_bad_axes_and_profiles_name_the_option():
    with pytest.raises(ValueError, match="--precisions repeats a value"):
        dataclasses.replace(AXES, precision=("fp32", "fp32"))
    with pytest.raises(ValueError, match="--sweep must be one of cross, one-at-a-time"):
        model_settings(AXES, "diagonal")
    cpu = TRAIN_PROFILES["cpu"]
    with pytest.raises(ValueError, match="--archs: unknown 'resnet7'"):
        dataclasses.replace(cpu, axes=dataclasses.replace(cpu.axes, arch=("resnet7",)))
    with pytest.raises(ValueError, match="--backends must include synthetic"):
        dataclasses.replace(cpu, backends=("torch",))
    with pytest.raises(ValueError, match="--batch-size must be at least 2"):
        dataclasses.replace(cpu, batch_size=1)


def test_cases_stay_in_one_epoch_and_bf16_gets_fewer_steps():
    bench = tiny_bench()
    fp32 = bench.case(AXES.baseline(), "synthetic", "")
    bf16 = bench.case({**AXES.baseline(), "precision": "bf16"}, "synthetic", "")
    assert (fp32.window_steps, fp32.max_steps) == (2, 6)  # a warm-up window and 2 timed
    assert (bf16.window_steps, bf16.max_steps) == (1, 3)
    assert fp32.samples == 6 * 4
    config = fp32.train_config()
    assert config.runtime.log_every == 2 and config.runtime.max_steps == 6
    assert config.runtime.cpu_processes == 1
    # The default data set holds the longest run's images, at least the smallest demo set.
    assert bench.default_data() == "demo:40"


def test_real_data_runs_at_the_fastest_synthetic_setting_of_each_method():
    settings = model_settings(AXES, "one-at-a-time")
    rates = {0: 10.0, 1: 30.0, 2: 50.0, 3: 20.0}  # baseline, simsiam, bf16, channels_last off
    rows = [{"status": "ok", "images_per_s": rates[i]} for i in range(len(settings))]
    chosen = settings_for_real_data(settings, rows, "fastest")
    assert [s["method"] for s in chosen] == ["vi-simsiam", "simsiam"]
    assert chosen[0]["precision"] == "bf16"
    assert settings_for_real_data(settings, rows, "all") == settings


def test_rows_carry_stall_against_the_synthetic_run_at_identical_settings(monkeypatch, tmp_path):
    rates = {"synthetic": 100.0, "torch": 60.0, "ffcv": 90.0}

    def fake_run(case, workdir, timeout_s):
        # bf16 is slower, so real backends run at fp32 (the fastest).
        return outcome(case, rates[case.backend] / (2 if case.precision == "bf16" else 1))

    monkeypatch.setattr(train_throughput, "run_case", fake_run)
    monkeypatch.setattr(
        train_throughput,
        "prepare_sources",
        lambda backends, data, beton, workdir, workers: (
            {"torch": data, "ffcv": "data.beton"},
            {"dali": "not installed; run: pip install 'visim[dali]'"},
        ),
    )
    bench = tiny_bench(dataclasses.replace(AXES, method=("simsiam",), channels_last=(True,)))
    rows = run_train_bench(bench, tmp_path, progress=lambda line: None)

    assert [(r["backend"], r["precision"], r["status"]) for r in rows] == [
        ("synthetic", "fp32", "ok"),
        ("synthetic", "bf16", "ok"),
        ("torch", "fp32", "ok"),
        ("ffcv", "fp32", "ok"),
        ("dali", "fp32", "skipped"),
    ]
    by_backend = {r["backend"]: r for r in rows[2:]}
    assert by_backend["torch"]["data_stall"] == pytest.approx(0.4)
    assert by_backend["ffcv"]["data_stall"] == pytest.approx(0.1)
    assert by_backend["dali"]["note"].startswith("skipped: not installed")
    assert rows[1]["x_baseline"] == pytest.approx(0.5)
    assert rows[0]["images_per_s"] == pytest.approx(100.0)  # the warm-up window is left out

    lines = stall_findings(rows)
    assert lines[0].startswith("torch: data stall 40.0% at simsiam resnet18 fp32")
    assert factor_effects(rows, bench.profile.axes) == ["precision bf16 vs fp32: x0.50 images/s"]
    assert target_findings(rows) == []  # CPU rows are never judged against the GPU targets


def test_targets_are_judged_on_cuda_rows_at_224_px():
    row = {
        "method": "simsiam",
        "arch": "resnet50",
        "precision": "bf16",
        "channels_last": True,
        "compile": True,
        "size": 224,
        "batch_size": 256,
        "device": "cuda",
        "status": "ok",
    }
    rows = [
        {**row, "backend": "synthetic", "images_per_s": 2500.0},
        {**row, "backend": "torch", "images_per_s": 2000.0, "data_stall": 0.2},
    ]
    assert target_findings(rows) == [
        "target resnet50 >= 2,500 image pairs/s on synthetic data: met (best 2,500)",
        "target data stall < 5% with torch: NOT met (lowest 20.0%)",
    ]
