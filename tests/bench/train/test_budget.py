"""The GPU benchmark's plan: which cases, in which order, what each is expected to cost, and
how a time budget cuts them; the colour stage's share of a step."""

import dataclasses

import pytest
import torch

from tests.bench.fake_runs import outcome
from visim.bench.train import throughput as train_throughput
from visim.bench.train.case_estimate import estimate_seconds, scaled_estimate
from visim.bench.train.color_stage_timing import time_color_stage
from visim.bench.train.findings import color_stage_findings
from visim.bench.train.matrix import model_settings
from visim.bench.train.profiles import TRAIN_PROFILES
from visim.bench.train.throughput import TrainBench, plan, planned_cases, run_train_bench
from visim.pipeline.augment.compiled_color_stage import CompiledColorStage
from visim.pipeline.augment.recipe import recipe_preset

GPU = TRAIN_PROFILES["gpu"]


def gpu_bench(**changes) -> TrainBench:
    options = {"workers": 16, "data": "demo:40", "beton": None, "case_timeout_s": 900.0}
    return TrainBench(GPU, "cuda", **{**options, **changes})


def describe(case) -> tuple:
    return (case.method, case.arch, case.channels_last, case.compile, case.backend)


def test_the_gpu_case_list_is_every_method_arch_and_layout_with_compile_for_resnet50_only():
    cases = planned_cases(gpu_bench())
    synthetic = [describe(c) for c in cases if c.backend == "synthetic"]
    expected = {
        (m, a, cl, False, "synthetic")
        for m in ("vi-simsiam", "simsiam")
        for a in ("resnet50", "resnet18")
        for cl in (True, False)
    }
    expected |= {(m, "resnet50", True, True, "synthetic") for m in ("vi-simsiam", "simsiam")}
    assert set(synthetic) == expected and len(synthetic) == len(expected)
    assert all(c.size == 224 and c.precision == "bf16" and c.device == "cuda" for c in cases)
    # Eager settings first (the baseline first of all), then the real backends at the
    # baseline, the compiled settings last: a budget cuts the costliest first.
    assert describe(cases[0]) == ("vi-simsiam", "resnet50", True, False, "synthetic")
    kinds = ["compiled" if c.compile else c.backend != "synthetic" for c in cases]
    assert kinds == [False] * 8 + [True] * 3 + ["compiled"] * 2
    real = [c for c in cases if c.backend != "synthetic"]
    assert {describe(c)[:4] for c in real} == {("vi-simsiam", "resnet50", True, False)}
    # Only the baseline times the colour stage.
    assert [c.time_color_stage for c in cases] == [True] + [False] * (len(cases) - 1)


def test_compile_archs_keeps_compiled_settings_of_those_archs_at_the_first_layout():
    settings = model_settings(GPU.axes, "cross", ("resnet50",))
    compiled = [(s["arch"], s["channels_last"]) for s in settings if s["compile"]]
    assert compiled == [("resnet50", True)] * 2
    assert len(model_settings(GPU.axes, "cross")) == 16  # None: the whole cross
    with pytest.raises(ValueError, match="--compile-archs: unknown 'resnet7'"):
        dataclasses.replace(GPU, compile_archs=("resnet7",))


def test_estimates_count_process_start_compile_steps_and_the_loader():
    cases = {describe(c): c for c in planned_cases(gpu_bench())}
    eager = cases[("vi-simsiam", "resnet50", True, False, "synthetic")]
    compiled = cases[("vi-simsiam", "resnet50", True, True, "synthetic")]
    torch_loader = cases[("vi-simsiam", "resnet50", True, False, "torch")]
    small = cases[("vi-simsiam", "resnet18", True, False, "synthetic")]
    assert estimate_seconds(compiled) > estimate_seconds(eager) + 60
    assert estimate_seconds(torch_loader) > estimate_seconds(eager)
    assert estimate_seconds(small) < estimate_seconds(eager)
    longer = dataclasses.replace(eager, max_steps=eager.max_steps * 10)
    assert estimate_seconds(longer) > estimate_seconds(eager)


def test_estimates_scale_by_what_finished_cases_really_took():
    case = planned_cases(gpu_bench())[0]
    base = estimate_seconds(case)
    assert scaled_estimate(case, []) == base
    assert scaled_estimate(case, [(10.0, 20.0), (30.0, 60.0)]) == pytest.approx(2 * base)
    assert scaled_estimate(case, [(40.0, 1.0)]) == pytest.approx(base / 2)  # never below half


def test_the_plan_marks_what_a_budget_cannot_hold_and_cases_whose_extra_is_missing(monkeypatch):
    monkeypatch.setattr(
        train_throughput, "missing_extra", lambda backend: "pip" if backend.name == "dali" else None
    )
    prepare, planned = plan(gpu_bench(time_budget_s=100.0))
    assert prepare > 0
    spent = prepare + sum(p.seconds for p in planned if p.fits)
    assert spent <= 100.0
    assert planned[0].fits and not planned[-1].fits and planned[-1].note == "over the time budget"
    dali = next(p for p in planned if p.case.backend == "dali")
    assert dali.seconds == 0 and dali.note == "skipped: not installed"
    _, unlimited = plan(gpu_bench())
    assert all(p.fits for p in unlimited)


def test_a_time_budget_skips_the_cases_that_no_longer_fit_and_says_why(monkeypatch, tmp_path):
    clock = _Clock()
    timeouts = []

    def fake_run(case, workdir, timeout_s):
        timeouts.append(timeout_s)
        clock.now += 300.0  # each case takes 300 s, far more than estimated
        return dataclasses.replace(outcome(case, 100.0), wall_seconds=300.0)

    monkeypatch.setattr(train_throughput, "run_case", fake_run)
    monkeypatch.setattr(train_throughput, "time", clock)
    bench = gpu_bench(time_budget_s=1000.0)
    bench = dataclasses.replace(bench, profile=dataclasses.replace(GPU, backends=("synthetic",)))
    rows = run_train_bench(bench, tmp_path, progress=lambda line: None)
    assert [r["status"] for r in rows] == ["ok"] * 3 + ["skipped"] * (len(rows) - 3)
    # After 900 s, 100 s are left; the estimates, scaled by how long cases really took (about
    # ten times their estimate), say the next case needs far more.
    note = rows[3]["note"]
    assert note.startswith("skipped: time budget: 100 s of 1000 s left, the case needs about")
    assert int(note.split("about ")[1].split(" s")[0]) > 200
    assert timeouts == [900.0, 700.0, 400.0]  # no case may outlast the budget


class _Clock:
    """A stand-in for the time module whose time moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


def test_the_color_stage_share_of_each_step_and_its_target():
    row = {
        "method": "vi-simsiam", "arch": "resnet50", "precision": "bf16", "channels_last": True,
        "compile": False, "size": 224, "batch_size": 256, "device": "cuda", "status": "ok",
        "backend": "synthetic", "images_per_s": 2560.0, "seconds_per_step": 0.1,
    }  # fmt: skip
    cases = [_Case("synthetic"), _Case("synthetic")]
    rows = [
        {
            **row,
            "color_stage_ms": 4.0,
            "color_stage_eager_ms": 20.0,
            "color_stage_compiled": True,
        },
        {**row, "arch": "resnet18", "seconds_per_step": 0.036},
    ]
    train_throughput.add_comparisons(cases, rows)
    assert rows[0]["color_share"] == pytest.approx(4 / 104)
    assert rows[1]["color_share"] == pytest.approx(4 / 40)
    lines = color_stage_findings(rows)
    assert lines[0].startswith("GPU colour stage: 4.00 ms per step for both views of 256 at 224")
    assert "(compiled; eager 20.00 ms)" in lines[0]
    assert lines[-1] == "target colour stage < 5% of a resnet50 step: met (3.8%)"


@dataclasses.dataclass
class _Case:
    backend: str

    def model_settings(self) -> tuple:
        return ()


def test_the_color_stage_is_timed_eager_and_through_the_given_stage():
    recipe = recipe_preset("imagenet", size=24)
    stage = CompiledColorStage(recipe, backend="aot_eager")
    timing = time_color_stage(recipe, 4, torch.device("cpu"), repeats=2, compiled=stage)
    assert timing["color_stage_ms"] > 0 and timing["color_stage_eager_ms"] > 0
    assert timing["color_stage_compiled"] is True
