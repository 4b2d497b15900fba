"""Training images/s per model setting and loader backend, and each backend's data stall.

Every case is a real `visim pretrain` run - forward, loss, backward and optimiser step under
its precision, channels_last and torch.compile settings - in a process of its own, for one
warm-up window and `windows` timed windows of `window_steps` steps (visim.bench.windows).
First every model setting trains on synthetic data (views already on the device: the step
alone sets the speed); then each real backend trains on the same images at the settings
real_data_at picks, and its data stall is 1 - real / synthetic at identical settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from visim.bench.case_rows import measured_row, unmeasured_row
from visim.bench.case_runner import run_case
from visim.bench.profiles import TrainProfile
from visim.bench.ratios import data_stall
from visim.bench.real_data import MIN_DEMO_IMAGES, demo_data, prepare_sources
from visim.bench.train_case import TrainCase
from visim.bench.train_matrix import model_settings

Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainBench:
    profile: TrainProfile
    device: str  # "cpu" or "cuda"
    workers: int  # loader workers of the real backends
    data: str | None  # None: a demo set just large enough that no run crosses an epoch end
    beton: Path | None  # FFCV's .beton of DATA; None: made from DATA
    case_timeout_s: float

    def case(self, settings: dict, backend: str, data: str) -> TrainCase:
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
        )

    def default_data(self) -> str:
        precisions = self.profile.axes.precision
        steps = max(self.profile.max_steps_for(p) for p in precisions)
        return demo_data(max(MIN_DEMO_IMAGES, steps * self.profile.batch_size))


def settings_for_real_data(
    settings: list[dict], synthetic_rows: list[dict], real_data_at: str
) -> list[dict]:
    """All settings, or per (method, arch) the one fastest on synthetic data (its first
    setting when none of them could be measured)."""
    if real_data_at == "all":
        return settings
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
    for case, row in zip(cases, rows, strict=True):
        if row["status"] != "ok":
            continue
        row["x_baseline"] = row["images_per_s"] / baseline if baseline else None
        if case.backend != "synthetic":
            reference = synthetic.get(case.model_settings())
            row["synthetic_images_per_s"] = reference
            row["data_stall"] = data_stall(row["images_per_s"], reference) if reference else None


def run_train_bench(bench: TrainBench, workdir: Path, progress: Progress) -> list[dict]:
    """Measure every case; one row each, in the order measured (the baseline first)."""
    profile = bench.profile
    settings = model_settings(profile.axes, profile.sweep)
    real_backends = [b for b in profile.backends if b != "synthetic"]
    cases: list[TrainCase] = []
    rows: list[dict] = []

    def measure(case: TrainCase) -> dict:
        progress(f"[{len(rows) + 1}] {case.describe()} ...")
        outcome = run_case(case, workdir / f"case-{len(rows) + 1}", bench.case_timeout_s)
        row = measured_row(case, outcome)
        cases.append(case)
        rows.append(row)
        progress(f"    {_summary(row)}")
        return row

    synthetic_rows = [measure(bench.case(setting, "synthetic", "")) for setting in settings]
    if real_backends:
        data = bench.data or bench.default_data()
        progress(f"preparing the data real backends read: {data}")
        sources, problems = prepare_sources(
            real_backends, data, bench.beton, workdir, bench.workers
        )
        for setting in settings_for_real_data(settings, synthetic_rows, profile.real_data_at):
            for backend in real_backends:
                case = bench.case(setting, backend, sources.get(backend, data))
                if backend in problems:
                    cases.append(case)
                    rows.append(unmeasured_row(case, "skipped", problems[backend]))
                    progress(f"[{len(rows)}] {case.describe()}: {rows[-1]['note']}")
                else:
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
