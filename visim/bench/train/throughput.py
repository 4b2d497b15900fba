"""Training images/s per model setting and loader backend, and each backend's data stall.

Every case is a real `visim pretrain` run - forward, loss, backward and optimiser step under
its precision, channels_last and torch.compile settings - in a process of its own, for one
warm-up window and `windows` timed windows of `window_steps` steps (visim.bench.train.windows).
First every model setting trains on synthetic data (views already on the device: the step
alone sets the speed); then each real backend trains on the same images at the settings
real_data_at picks, and its data stall is 1 - real / synthetic at identical settings.

Order: the settings without torch.compile first, the real backends next when they run at the
baseline only, the compiled settings last (otherwise every synthetic setting comes before the
real backends): compiling costs the most, and a time budget (time_budget_s) cuts from the
end. Before each case the bench checks that what is left of the budget covers the case's
estimate (case_estimate); a case that does not fit becomes a row "skipped" with both numbers,
so the run always ends in time with a complete report. On CUDA the baseline case also times
the GPU colour stage (color_stage_timing), whose share of every step the report gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from visim.bench.ratios import data_stall
from visim.bench.train.case import TrainCase
from visim.bench.train.case_estimate import estimate_seconds, prepare_seconds, scaled_estimate
from visim.bench.train.case_rows import measured_row, unmeasured_row
from visim.bench.train.case_runner import run_case
from visim.bench.train.matrix import model_settings
from visim.bench.train.profiles import TrainProfile
from visim.bench.train.real_data import MIN_DEMO_IMAGES, demo_data, prepare_sources
from visim.pipeline.backends.registry import get_backend, missing_extra
from visim.pipeline.sources.factory import open_source

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainBench:
    profile: TrainProfile
    device: str  # "cpu" or "cuda"
    workers: int  # loader workers of the real backends
    data: str | None  # None: a demo set just large enough that no run crosses an epoch end
    beton: Path | None  # FFCV's .beton of DATA; None: made from DATA
    case_timeout_s: float
    time_budget_s: float | None = None  # for the whole bench; None: no limit

    def case(
        self, settings: dict, backend: str, data: str, time_color_stage: bool = False
    ) -> TrainCase:
        profile = self.profile
        max_steps = profile.max_steps_for(settings["precision"])
        return TrainCase(
            **settings,
            backend=backend,
            size=profile.size,
            recipe=profile.recipe,
            cifar_stem=profile.cifar_stem,
            batch_size=profile.batch_size,
            device=self.device,
            workers=self.workers,
            data=data,
            samples=max_steps * profile.batch_size,
            window_steps=profile.window_steps_for(settings["precision"]),
            max_steps=max_steps,
            time_color_stage=time_color_stage,
        )

    def default_data(self) -> str:
        precisions = self.profile.axes.precision
        steps = max(self.profile.max_steps_for(p) for p in precisions)
        return demo_data(max(MIN_DEMO_IMAGES, steps * self.profile.batch_size))


def _phases(bench: TrainBench) -> tuple[list[dict], list[dict]]:
    """The synthetic settings measured before the real backends and after them: with real
    data at the baseline, the compiled ones after (they cost the most); otherwise all before,
    since the real backends' settings depend on them."""
    profile = bench.profile
    settings = model_settings(profile.axes, profile.sweep, profile.compile_archs)
    eager = [s for s in settings if not s["compile"]]
    compiled = [s for s in settings if s["compile"]]
    if profile.real_data_at == "baseline":
        return eager, compiled
    return eager + compiled, []


def _synthetic(bench: TrainBench, settings: list[dict], baseline: bool) -> list[TrainCase]:
    """The synthetic cases of `settings`; where they start with the baseline, on CUDA, that
    case also times the colour stage."""
    color = baseline and bench.device == "cuda"
    return [
        bench.case(s, "synthetic", "", time_color_stage=color and i == 0)
        for i, s in enumerate(settings)
    ]


def planned_cases(bench: TrainBench) -> list[TrainCase]:
    """Every case in the order run_train_bench runs them (for --dry-run). With real data at
    "fastest" the setting is known only once measured: each group's first stands in for it."""
    before, after = _phases(bench)
    real_backends = [b for b in bench.profile.backends if b != "synthetic"]
    data = bench.data or bench.default_data()
    at = settings_for_real_data(before, None, bench.profile.real_data_at)
    real = [bench.case(s, backend, data) for s in at for backend in real_backends]
    return [*_synthetic(bench, before, True), *real, *_synthetic(bench, after, False)]


@dataclass(frozen=True)
class PlannedCase:
    case: TrainCase
    seconds: float  # estimate_seconds; 0 for a case that will be skipped outright
    fits: bool  # within the time budget, counting every case before it
    note: str


def plan(bench: TrainBench) -> tuple[float, list[PlannedCase]]:
    """(seconds to prepare the real backends' data, every case with its estimate), walking
    the time budget as run_train_bench does."""
    cases = planned_cases(bench)
    missing = {b for b in bench.profile.backends if missing_extra(get_backend(b)) is not None}
    prepare = 0.0
    if any(case.backend not in missing | {"synthetic"} for case in cases):
        prepare = prepare_seconds(len(open_source(bench.data or bench.default_data())))
    spent, planned = prepare, []
    for case in cases:
        if case.backend in missing:
            planned.append(PlannedCase(case, 0.0, True, "skipped: not installed"))
            continue
        seconds = estimate_seconds(case)
        fits = bench.time_budget_s is None or spent + seconds <= bench.time_budget_s
        spent += seconds if fits else 0.0
        planned.append(PlannedCase(case, seconds, fits, "" if fits else "over the time budget"))
    return prepare, planned


def settings_for_real_data(
    settings: list[dict], synthetic_rows: list[dict] | None, real_data_at: str
) -> list[dict]:
    """All settings, the baseline, or per (method, arch) the one fastest on synthetic data (its
    first setting when none of them could be measured, or no rows are given)."""
    if real_data_at == "all":
        return settings
    if real_data_at == "baseline":
        return settings[:1]
    synthetic_rows = synthetic_rows or [{"status": "planned"}] * len(settings)
    chosen: dict[tuple, tuple[float, dict]] = {}
    for setting, row in zip(settings, synthetic_rows, strict=True):
        group = (setting["method"], setting["arch"])
        speed = row["images_per_s"] if row["status"] == "ok" else -1.0
        if group not in chosen or speed > chosen[group][0]:
            chosen[group] = (speed, setting)
    return [setting for _, setting in chosen.values()]


def add_comparisons(cases: list[TrainCase], rows: list[dict]) -> None:
    """x_baseline on every measured row (over the first row), and on real-data rows the
    synthetic rate at the same settings and the data stall."""
    baseline = rows[0]["images_per_s"] if rows and rows[0]["status"] == "ok" else None
    synthetic = {
        case.model_settings(): row["images_per_s"]
        for case, row in zip(cases, rows, strict=True)
        if case.backend == "synthetic" and row["status"] == "ok"
    }
    color_ms = next((row["color_stage_ms"] for row in rows if "color_stage_ms" in row), None)
    for case, row in zip(cases, rows, strict=True):
        if row["status"] != "ok":
            continue
        row["x_baseline"] = row["images_per_s"] / baseline if baseline else None
        if color_ms is not None and case.backend == "synthetic":
            # What the ffcv backend's GPU colour stage would add to this step.
            row["color_share"] = color_ms / (color_ms + 1000 * row["seconds_per_step"])
        if case.backend != "synthetic":
            reference = synthetic.get(case.model_settings())
            row["synthetic_images_per_s"] = reference
            row["data_stall"] = data_stall(row["images_per_s"], reference) if reference else None


def run_train_bench(bench: TrainBench, workdir: Path, progress: Progress) -> list[dict]:
    """Measure every case; one row each, in the order measured (the baseline first)."""
    before, after = _phases(bench)
    real_backends = [b for b in bench.profile.backends if b != "synthetic"]
    cases: list[TrainCase] = []
    rows: list[dict] = []
    started = time.monotonic()
    finished: list[tuple[float, float]] = []  # (estimated, measured) seconds per case run

    def skip(case: TrainCase, reason: str) -> None:
        cases.append(case)
        rows.append(unmeasured_row(case, "skipped", reason))
        progress(f"[{len(rows)}] {case.describe()}: {rows[-1]['note']}")

    def measure(case: TrainCase) -> dict:
        timeout = bench.case_timeout_s
        if bench.time_budget_s is not None:
            left = bench.time_budget_s - (time.monotonic() - started)
            needed = scaled_estimate(case, finished)
            if needed > left:
                skip(case, f"time budget: {left:.0f} s of {bench.time_budget_s:.0f} s left, the "
                     f"case needs about {needed:.0f} s")  # fmt: skip
                return rows[-1]
            timeout = min(timeout, left)
        progress(f"[{len(rows) + 1}] {case.describe()} ...")
        outcome = run_case(case, workdir / f"case-{len(rows) + 1}", timeout)
        finished.append((estimate_seconds(case), outcome.wall_seconds))
        cases.append(case)
        rows.append(measured_row(case, outcome))
        progress(f"    {_summary(rows[-1])}")
        return rows[-1]

    def measure_real_data(measured: list[dict], settings: list[dict]) -> None:
        if not real_backends:
            return
        data = bench.data or bench.default_data()
        progress(f"preparing the data real backends read: {data}")
        sources, problems = prepare_sources(
            real_backends, data, bench.beton, workdir, bench.workers
        )
        for setting in settings_for_real_data(settings, measured, bench.profile.real_data_at):
            for backend in real_backends:
                case = bench.case(setting, backend, sources.get(backend, data))
                if backend in problems:
                    skip(case, problems[backend])
                else:
                    measure(case)

    synthetic_rows = [measure(case) for case in _synthetic(bench, before, True)]
    measure_real_data(synthetic_rows, before)
    for case in _synthetic(bench, after, False):
        measure(case)
    add_comparisons(cases, rows)
    return rows


def _summary(row: dict) -> str:
    if row["status"] != "ok":
        return row["note"]
    return (
        f"{row['images_per_s']:,.1f} images/s, data wait {row['data_wait']:.1%}, "
        f"warm-up {row['warmup_extra_s']:+.1f} s, {row['wall_s']:.0f} s in all"
    )
