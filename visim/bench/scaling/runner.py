"""Time per epoch as the data set and the batch grow, with peak host and device memory.

Each case trains one whole epoch of a demo set of N images (N synthetic samples with the
synthetic backend) at batch B, in a process of its own, logging every L steps, where L
divides the epoch into at least MIN_WINDOWS windows when it can. Two times per epoch:
- first epoch, measured: from the loader's first request to the last step, warm-up included
  (model build, the final checkpoint and process start-up are not);
- epoch, extrapolated: steps per epoch x the steady seconds per step of the windows after the
  first - what every later epoch costs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from visim.bench.scaling.growth import add_growth_columns
from visim.bench.train.case import TrainCase
from visim.bench.train.case_rows import measured_row, unmeasured_row
from visim.bench.train.case_runner import run_case
from visim.bench.train.profiles import ScalingProfile
from visim.bench.train.real_data import demo_data, prepare_sources
from visim.pipeline.backends.epoch_order import batches_per_epoch

MIN_WINDOWS = 4
Progress = Callable[[str], None]


def window_steps_for(steps_per_epoch: int) -> int:
    """The largest divisor of the epoch's steps that leaves at least MIN_WINDOWS windows
    (every step its own window in shorter epochs; 1 for epochs too short to time)."""
    wanted = min(MIN_WINDOWS, steps_per_epoch)
    divisors = (
        d
        for d in range(1, steps_per_epoch + 1)
        if steps_per_epoch % d == 0 and steps_per_epoch // d >= wanted
    )
    return max(divisors, default=1)


@dataclass(frozen=True)
class ScalingBench:
    profile: ScalingProfile
    device: str
    workers: int
    case_timeout_s: float

    def case(self, images: int, batch_size: int, data: str) -> TrainCase:
        p = self.profile
        return TrainCase(
            method=p.method,
            arch=p.arch,
            precision=p.precision,
            channels_last=p.channels_last,
            compile=p.compile,
            backend=p.backend,
            size=p.size,
            recipe=p.recipe,
            cifar_stem=p.cifar_stem,
            batch_size=batch_size,
            device=self.device,
            workers=self.workers,
            data=data,
            samples=images,
            window_steps=window_steps_for(batches_per_epoch(images, batch_size)),
            max_steps=0,  # the whole epoch
        )


def run_scaling_bench(bench: ScalingBench, workdir: Path, progress: Progress) -> list[dict]:
    """One row per (data set size, batch size), data set size major."""
    backend = bench.profile.backend
    rows = []
    for images in bench.profile.dataset_sizes:
        data, problem = "", None
        if backend != "synthetic":
            sources, problems = prepare_sources(
                [backend], demo_data(images), None, workdir, bench.workers
            )
            data, problem = sources.get(backend, demo_data(images)), problems.get(backend)
        for batch_size in bench.profile.batch_sizes:
            rows.append(_measure(bench, images, batch_size, data, problem, workdir, progress))
    add_growth_columns(rows, bench.profile.dataset_sizes, bench.profile.batch_sizes)
    return rows


def _measure(
    bench: ScalingBench,
    images: int,
    batch_size: int,
    data: str,
    problem: str | None,
    workdir: Path,
    progress: Progress,
) -> dict:
    case = bench.case(images, batch_size, data)
    steps = batches_per_epoch(images, batch_size)
    if steps < 2:
        problem = f"{images} images at batch {batch_size} make {steps} step(s); need at least 2"
    if problem is not None:
        return {"images": images, **unmeasured_row(case, "skipped", problem)}
    progress(f"{images} images, batch {batch_size}: {case.describe()} ...")
    outcome = run_case(case, workdir / f"case-{images}-{batch_size}", bench.case_timeout_s)
    row = {"images": images, **measured_row(case, outcome)}
    if row["status"] == "ok":
        row["first_epoch_s"] = sum(w["seconds"] for w in row["windows"])
        row["epoch_s"] = row["steps_per_epoch"] * row["seconds_per_step"]
        progress(
            f"    epoch {row['epoch_s']:.1f} s ({row['first_epoch_s']:.1f} s the first), "
            f"{row['images_per_s']:,.1f} images/s, peak RSS {row['peak_rss_mib']:,.0f} MiB"
        )
    else:
        progress(f"    {row['note']}")
    return row
