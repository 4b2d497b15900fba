"""Run the pipeline benchmark: every contender on the same images, timed side by side.

All contenders are built and warmed up first (FFCV's numba compilation, DALI's pipeline
build and DataLoader worker start-up are reported as setup time, never timed). Then come
`rounds` rounds; in each, every contender gets seconds / rounds of steady-state timing, in
an order that reverses every round, so a slow drift of the machine (another job starting,
the CPU warming) falls on all contenders alike rather than on whoever ran last.

A contender whose extra is missing, whose data could not be made, or that fails while
built or timed becomes a result carrying the reason; the others still run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from visim.bench.pipeline.contenders import Contender, missing_requirement, two_view_mode
from visim.bench.pipeline.data import BenchData
from visim.bench.pipeline.throughput import (
    BatchStream,
    Clock,
    Slice,
    device_synchronizer,
    time_slice,
    total,
    warm_up,
)
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.loader_spec import LoaderSpec

# (contender, what it is doing, timed slices done, timed slices in all)
BenchProgress = Callable[[str, str, int, int], None]


def _no_progress(contender: str, activity: str, done: int, total: int) -> None:
    """The default BenchProgress: report nothing."""


@dataclass(frozen=True)
class BenchSettings:
    recipe: AugmentationRecipe
    batch_size: int
    seconds: float  # of timing per contender, split over the rounds
    workers: int
    device: torch.device
    rounds: int = 2
    warmup_batches: int = 4  # untimed before each slice; at least the loaders' prefetch depth
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.batch_size < 1:
            problems.append(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.seconds <= 0:
            problems.append(f"--seconds must be positive, got {self.seconds}")
        if self.workers < 1:
            problems.append(f"--workers must be at least 1, got {self.workers}")
        if self.rounds < 1:
            problems.append(f"--rounds must be at least 1, got {self.rounds}")
        if self.warmup_batches < 0:
            problems.append(f"--warmup-batches must be non-negative, got {self.warmup_batches}")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass
class ContenderResult:
    name: str
    backend: str
    status: str = "ok"  # ok | unavailable (extra missing) | failed (raised)
    reason: str = ""
    note: str = ""  # how it ran, e.g. FFCV's two-view mode
    setup_seconds: float | None = None  # build + first warm-up batches, untimed
    slices: list[Slice] = field(default_factory=list)

    @property
    def measured(self) -> Slice | None:
        return total(self.slices) if self.status == "ok" and self.slices else None

    @property
    def images_per_s(self) -> float | None:
        measured = self.measured
        return None if measured is None else measured.images_per_s

    def fail(self, error: BaseException) -> None:
        self.status = "failed"
        self.reason = f"{type(error).__name__}: {error}"


def round_orders(names: list[str], rounds: int) -> list[list[str]]:
    """Who runs when: the given order, reversed every other round."""
    return [list(names) if r % 2 == 0 else list(reversed(names)) for r in range(rounds)]


def _spec(contender: Contender, data: BenchData, settings: BenchSettings) -> LoaderSpec:
    return LoaderSpec(
        source=data.source_for(contender),
        recipe=settings.recipe,
        batch_size=settings.batch_size,
        device=settings.device,
        seed=settings.seed,
        workers=settings.workers,
        synthetic_samples=data.num_images,
    )


def _prepare(
    contender: Contender,
    data: BenchData,
    settings: BenchSettings,
    result: ContenderResult,
    clock: Clock,
) -> BatchStream | None:
    """Build and warm up the contender's loader; None (with the reason in result) if not."""
    missing = missing_requirement(contender)
    if missing is not None:
        result.status, result.reason = "unavailable", missing
        return None
    started = clock()
    try:
        loader = contender.build(_spec(contender, data, settings))
        stream = BatchStream(loader)
        # At least one batch: that is where FFCV compiles and DataLoader workers start.
        warm_up(stream, max(1, settings.warmup_batches))
    except Exception as error:  # any failure of one backend is its row, not the end of the run
        result.fail(error)
        return None
    device_synchronizer(settings.device)()
    result.setup_seconds = clock() - started
    mode = two_view_mode(loader)
    result.note = f"two-view mode {mode}" if mode else ""
    return stream


def run_bench(
    contenders: list[Contender],
    data: BenchData,
    settings: BenchSettings,
    progress: BenchProgress = _no_progress,
    clock: Clock = time.perf_counter,
) -> tuple[list[ContenderResult], list[list[str]]]:
    """(a result per contender, in the given order; the order they were timed in, by round)."""
    results = {c.name: ContenderResult(c.name, c.backend) for c in contenders}
    streams: dict[str, BatchStream] = {}
    synchronize = device_synchronizer(settings.device)
    try:
        # Loaders that fork workers start first: forking once FFCV's numba thread pool runs
        # can hang (numba's TBB layer must stop its threads before a fork, and may not).
        for contender in sorted(contenders, key=lambda c: not c.forks_workers):
            progress(contender.name, "building and warming up", 0, 0)
            stream = _prepare(contender, data, settings, results[contender.name], clock)
            if stream is not None:
                streams[contender.name] = stream
        ready = [c.name for c in contenders if c.name in streams]  # the order asked for
        orders = round_orders(ready, settings.rounds)
        slices_in_all = sum(len(order) for order in orders)
        done = 0
        for round_index, order in enumerate(orders):
            activity = f"timing, round {round_index + 1}/{len(orders)}"
            for name in order:
                progress(name, activity, done, slices_in_all)
                done += 1
                if results[name].status != "ok":
                    continue
                try:
                    piece = time_slice(
                        streams[name],
                        settings.seconds / settings.rounds,
                        settings.warmup_batches,
                        synchronize,
                        clock,
                    )
                except Exception as error:
                    results[name].fail(error)
                    continue
                results[name].slices.append(piece)
        progress("", "done", done, slices_in_all)
    finally:
        for stream in streams.values():
            stream.close()
    return [results[c.name] for c in contenders], orders
