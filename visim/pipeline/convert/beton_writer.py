"""FFCV's DatasetWriter, made safe to interrupt, to watch, and to blame the right image.

ffcv 1.0.2's writer shows a tqdm bar, waits forever if a worker process dies (a file that
changed since it was checked, a full disk), leaves its workers and shared memory behind when
interrupted, and a worker that fails says nothing of the image it was on. This subclass
replaces its coordinating method and its worker job: progress goes to a callback, a worker
that raises reports the image and the reason (SamplesRejected when the image is at fault),
one that dies names the image it was writing, and the workers stop on any exception.

fit_within() shrinks images as FFCV's RGBImageField would, but never to a 0-pixel side: FFCV
asks OpenCV for one (and the writer fails) for any image more than max_resolution times
longer than it is wide, a 2000x3 panorama at 256 px for one.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import queue
import sys
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

import cv2
import numpy as np
from ffcv.fields.base import Field
from ffcv.memory_allocator import MemoryAllocator
from ffcv.writer import DatasetWriter, handle_sample

from visim.pipeline.convert.stop_points import StopCheck
from visim.pipeline.convert.worker_processes import (
    WorkerDied,
    leave_stops_to_parent,
    stop_signals_blocked,
)

POLL_SECONDS = 0.1
REASON_CHARACTERS = 200
NOT_STARTED = -1  # a worker's current sample before its first one
# Workers are forked: they share the parent's mapping of the metadata block, so its name can
# be removed before they start (see _write_common).
FORK = multiprocessing.get_context("fork")


class SamplesRejected(WorkerDied):
    """Reading or encoding these samples raised: {source index: reason}."""

    def __init__(self, rejected: dict[int, str]) -> None:
        super().__init__(f"FFCV could not encode {len(rejected)} image(s)")
        self.rejected = rejected


class WriterFailed(WorkerDied):
    """A writer process failed on sample `index` (None: before its first) for another reason
    than the image (a full disk), or died outright (a signal)."""

    def __init__(self, index: int | None, reason: str) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason


def fit_within(image: np.ndarray, max_side: int) -> np.ndarray:
    """uint8 [H, W, 3] -> [h, w, 3] with max(h, w) <= max_side, as RGBImageField shrinks it.

    The same arithmetic (each side times max_side / longest side, truncated) and the same
    INTER_AREA resize as FFCV, except that no side drops below 1 px. Images that fit are
    returned unchanged, and FFCV then leaves every image as it gets it.
    """
    height, width = image.shape[:2]
    ratio = max_side / max(height, width)
    if ratio >= 1:
        return image
    size = (max(1, int(ratio * width)), max(1, int(ratio * height)))  # OpenCV's (w, h)
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _reason(error: BaseException) -> str:
    """One line: OpenCV's messages span several and start with the source file."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[-1]}" if lines else type(error).__name__
    return text[:REASON_CHARACTERS]


def _write_samples(
    work, metadata_sm, metadata_type, fields, allocator, done, allocations,
    dataset, failures, current, slot,
) -> None:  # fmt: skip
    """One writer process: ffcv's indexed-dataset job, telling the parent what it is on.

    current[slot] holds the source index of the sample in hand, for a death by signal; an
    exception is reported as (index, reason, whether the image is at fault) on `failures`.
    """
    leave_stops_to_parent()
    metadata = np.frombuffer(metadata_sm.buf, dtype=metadata_type)
    index, doing = NOT_STARTED, "starting"
    try:
        with allocator:
            while (chunk := work.get()) is not None:
                for destination, index in chunk:
                    current[slot] = index
                    doing = "cannot be read"
                    sample = dataset[index]
                    doing = "FFCV cannot encode it"
                    handle_sample(
                        sample, destination, metadata_type.names, metadata, allocator, fields
                    )
                with done.get_lock():
                    done.value += len(chunk)
        allocations.put(allocator.allocations)
    except Exception as error:
        # A full disk or a failed write is not the image's fault; anything else the reader or
        # the encoder raised on this one sample is.
        image_fault = index != NOT_STARTED and not isinstance(error, OSError)
        reason = f"{doing}: {_reason(error)}" if image_fault else _reason(error)
        failures.put((index, reason, image_fault))
        sys.exit(1)


def _failure(failures, workers: list[BaseProcess], current) -> WorkerDied | None:
    """What went wrong, once a worker has exited with an error; None while none has."""
    died = [(slot, w) for slot, w in enumerate(workers) if w.exitcode not in (None, 0)]
    if not died:
        return None
    reports = []
    while True:
        try:
            reports.append(failures.get(timeout=POLL_SECONDS))
        except queue.Empty:
            break
    rejected = {index: reason for index, reason, image_fault in reports if image_fault}
    if rejected:
        return SamplesRejected(rejected)
    if reports:
        index, reason, _ = reports[0]
        return WriterFailed(None if index == NOT_STARTED else index, reason)
    slot, worker = died[0]
    index = current[slot]
    return WriterFailed(
        None if index == NOT_STARTED else index,
        f"an FFCV writer process exited with code {worker.exitcode}",
    )


class MonitoredDatasetWriter(DatasetWriter):
    def __init__(
        self,
        fname: str,
        fields: dict[str, Field],
        *,
        page_size: int,
        num_workers: int,
        on_progress: Callable[[int], None],
        stop_check: StopCheck,
    ) -> None:
        super().__init__(fname, fields, page_size=page_size, num_workers=num_workers)
        self._on_progress = on_progress  # called with the number of samples written so far
        self._stop_check = stop_check  # called between queue operations and at each poll

    def _write_common(self, num_samples, queue_content, work_fn, extra_worker_args):
        # work_fn is ffcv's own job; _write_samples replaces it to report failures.
        self.num_samples = num_samples
        self.prepare()  # writes the header, creates the shared metadata block
        # Forked workers inherit the mapping: without its name, a run killed outright
        # (kill -9) leaves nothing behind in /dev/shm.
        self.metadata_sm.unlink()
        try:
            work = FORK.Queue()
            # The workers read every item before a write completes; when they never will (a
            # failure, Ctrl-C, even while the queue is still being filled), the thread that
            # feeds the queue's pipe must not hold the interpreter at exit.
            work.cancel_join_thread()
            for todo in queue_content:
                self._stop_check()
                work.put(todo)
            for _ in range(self.num_workers):
                work.put(None)  # one stop token per worker
            allocations, failures = FORK.Queue(), FORK.Queue()
            done = FORK.Value(ctypes.c_uint64, 0)
            current = FORK.Array(ctypes.c_int64, [NOT_STARTED] * self.num_workers, lock=False)
            allocator = MemoryAllocator(self.fname, self.data_region_start, self.page_size)
            args = (work, self.metadata_sm, self.metadata_type, self.fields, allocator, done,
                    allocations, *extra_worker_args, failures, current)  # fmt: skip
            workers = [
                FORK.Process(target=_write_samples, args=(*args, slot), daemon=True)
                for slot in range(self.num_workers)
            ]
            try:
                with stop_signals_blocked():
                    for worker in workers:
                        worker.start()
                self._on_progress(0)
                written = 0
                while written < num_samples:
                    time.sleep(POLL_SECONDS)
                    self._stop_check()
                    if failure := _failure(failures, workers, current):
                        raise failure
                    if done.value != written:
                        written = done.value
                        self._on_progress(written)
                table = []
                while len(table) < len(workers):
                    try:
                        table.append(allocations.get(timeout=POLL_SECONDS))
                    except queue.Empty:
                        self._stop_check()
                        if failure := _failure(failures, workers, current):
                            raise failure from None
            except BaseException:
                for worker in workers:
                    if worker.is_alive():
                        worker.terminate()
                raise
            finally:
                for worker in workers:
                    if worker.pid is not None:
                        worker.join()
            self.finalize([a for worker_allocations in table for a in worker_allocations])
        finally:
            self.metadata_sm.close()
