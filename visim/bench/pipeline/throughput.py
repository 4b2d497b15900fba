"""Source images per second of a two-view loader, timed in steady state.

A loader is wrapped in an endless BatchStream (a new epoch starts when one runs out, as in
training, so epoch turnover is part of the cost). Each timed slice first draws a few warm-up
batches that are not counted: batches the loader prefetched while it was idle come out at
once, and counting them would credit it with work done outside the clock. After the slice
the device is synchronised, so queued GPU work is inside the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.loader_spec import TwoViewLoader

Clock = Callable[[], float]


class BatchStream:
    """Batches of one loader without end: epochs 0, 1, 2, ... back to back."""

    def __init__(self, loader: TwoViewLoader) -> None:
        self.loader = loader
        self.epoch = 0
        loader.set_epoch(0)
        self._batches: Iterator[Batch] = iter(loader)

    def next_images(self) -> int:
        """Draw one batch; the number of source images in it (each gave two views)."""
        try:
            batch = next(self._batches)
        except StopIteration:
            self.epoch += 1
            self.loader.set_epoch(self.epoch)
            self._batches = iter(self.loader)
            try:
                batch = next(self._batches)
            except StopIteration:
                raise RuntimeError("the loader yields no batches in an epoch") from None
        return int(batch.view1.shape[0])

    def close(self) -> None:
        """Stop the loader's current epoch, so its workers or threads wind down now."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


@dataclass(frozen=True)
class Slice:
    """One timed stretch of a stream."""

    images: int
    seconds: float

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else float("inf")


def device_synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (nothing to wait for on the CPU)."""
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def warm_up(stream: BatchStream, batches: int) -> int:
    """Draw `batches` batches untimed; the images drawn."""
    return sum(stream.next_images() for _ in range(batches))


def time_slice(
    stream: BatchStream,
    seconds: float,
    warmup_batches: int,
    synchronize: Callable[[], None] = lambda: None,
    clock: Clock = time.perf_counter,
) -> Slice:
    """Images drawn in at least `seconds` (and at least one batch) after the warm-up."""
    warm_up(stream, warmup_batches)
    synchronize()
    start = clock()
    images = 0
    while True:
        images += stream.next_images()
        if clock() - start >= seconds:
            break
    synchronize()
    return Slice(images, clock() - start)


def total(slices: list[Slice]) -> Slice:
    """The slices as one: their images over their summed time."""
    return Slice(sum(s.images for s in slices), sum(s.seconds for s in slices))
