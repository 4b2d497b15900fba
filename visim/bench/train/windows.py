"""Steady-state throughput from the training loop's own metrics windows.

A benchmark run logs every L steps (log_every = L), so metrics.jsonl holds one record per
window of L steps, each carrying the loop's images/s and data-wait fraction over that window.
The first window is the warm-up: first-step allocations, kernel selection, torch.compile and
FFCV's numba compilation all land there. A window that holds the first step of a later epoch
also holds that epoch's loader restart and the checkpoint the loop writes at every epoch end;
neither belongs to steady-state training, so those windows are left out as well.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Steps first_step..last_step (1-based, inclusive) of one run."""

    first_step: int
    last_step: int
    seconds: float
    images: int
    data_wait: float  # fraction of `seconds` spent waiting for the loader

    @property
    def steps(self) -> int:
        return self.last_step - self.first_step + 1

    def holds_epoch_start(self, steps_per_epoch: int) -> bool:
        """Whether one of its steps is the first of an epoch after the first epoch."""
        return any(
            step > 1 and (step - 1) % steps_per_epoch == 0
            for step in range(self.first_step, self.last_step + 1)
        )


class NoSteadyWindow(ValueError):
    """Every window after the warm-up held an epoch restart (or there was none)."""


def windows_from_records(records: list[dict], batch_size: int) -> list[Window]:
    """The windows of metrics records (visim.train.metrics) of a single-process run."""
    windows, previous_step = [], 0
    for record in records:
        steps = record["step"] - previous_step
        images = steps * batch_size
        windows.append(
            Window(
                first_step=previous_step + 1,
                last_step=record["step"],
                seconds=images / record["images_per_s"],
                images=images,
                data_wait=record["data_wait"],
            )
        )
        previous_step = record["step"]
    return windows


@dataclass(frozen=True)
class SteadyState:
    images_per_s: float
    data_wait: float  # time-weighted over the steady windows
    seconds_per_step: float
    window_images_per_s: tuple[float, ...]  # each steady window's own rate: the spread
    # The warm-up window's time minus the same steps at steady speed: one-off costs such as
    # compilation. Noise can make it slightly negative when there is nothing to warm up.
    warmup_extra_seconds: float


def steady_state(windows: list[Window], steps_per_epoch: int) -> SteadyState:
    """Throughput over the windows after the warm-up that hold no epoch restart."""
    if not windows:
        raise NoSteadyWindow("the run logged no metrics window")
    warmup, rest = windows[0], windows[1:]
    steady = [w for w in rest if not w.holds_epoch_start(steps_per_epoch)]
    if not steady:
        reason = (
            "every timed window held an epoch restart"
            if rest
            else "there was no window after the warm-up"
        )
        raise NoSteadyWindow(
            f"no steady-state window: {reason} ({steps_per_epoch} steps per epoch, "
            f"{warmup.steps} steps per window); use more data or shorter windows"
        )
    seconds = sum(w.seconds for w in steady)
    steps = sum(w.steps for w in steady)
    seconds_per_step = seconds / steps
    return SteadyState(
        images_per_s=sum(w.images for w in steady) / seconds,
        data_wait=sum(w.data_wait * w.seconds for w in steady) / seconds,
        seconds_per_step=seconds_per_step,
        window_images_per_s=tuple(w.images / w.seconds for w in steady),
        warmup_extra_seconds=warmup.seconds - warmup.steps * seconds_per_step,
    )
