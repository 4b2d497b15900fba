"""FFCV's DatasetWriter, made safe to interrupt and to watch.

ffcv 1.0.2's writer shows a tqdm bar, waits forever if a worker process dies (a file that
changed since it was checked, a full disk), and leaves its workers and shared memory behind
when interrupted. This subclass replaces its one coordinating method to report progress
through a callback, fail when a worker dies, and stop its workers on any exception.
"""

from __future__ import annotations

import ctypes
import queue
import time
from collections.abc import Callable
from multiprocessing import Process, Queue, Value

from ffcv.fields.base import Field
from ffcv.memory_allocator import MemoryAllocator
from ffcv.writer import DatasetWriter

from visim.pipeline.worker_processes import (
    WorkerDied,
    leave_stops_to_parent,
    stop_signals_blocked,
)

POLL_SECONDS = 0.1


def _worker(work_fn: Callable, *args: object) -> None:
    leave_stops_to_parent()
    work_fn(*args)


def _check_alive(workers: list[Process]) -> None:
    for worker in workers:
        if worker.exitcode not in (None, 0):
            raise WorkerDied(f"an FFCV writer process exited with code {worker.exitcode}")


class MonitoredDatasetWriter(DatasetWriter):
    def __init__(
        self,
        fname: str,
        fields: dict[str, Field],
        *,
        page_size: int,
        num_workers: int,
        on_progress: Callable[[int], None],
    ) -> None:
        super().__init__(fname, fields, page_size=page_size, num_workers=num_workers)
        self._on_progress = on_progress  # called with the number of samples written so far

    def _write_common(self, num_samples, queue_content, work_fn, extra_worker_args):
        self.num_samples = num_samples
        self.prepare()  # writes the header, creates the shared metadata block
        try:
            work: Queue = Queue()
            for todo in queue_content:
                work.put(todo)
            for _ in range(self.num_workers):
                work.put(None)  # one stop token per worker
            allocations: Queue = Queue()
            done = Value(ctypes.c_uint64, 0)
            allocator = MemoryAllocator(self.fname, self.data_region_start, self.page_size)
            args = (work, self.metadata_sm, self.metadata_type, self.fields, allocator, done,
                    allocations, *extra_worker_args)  # fmt: skip
            workers = [
                Process(target=_worker, args=(work_fn, *args), daemon=True)
                for _ in range(self.num_workers)
            ]
            try:
                with stop_signals_blocked():
                    for worker in workers:
                        worker.start()
                self._on_progress(0)
                written = 0
                while written < num_samples:
                    time.sleep(POLL_SECONDS)
                    _check_alive(workers)
                    if done.value != written:
                        written = done.value
                        self._on_progress(written)
                table = []
                while len(table) < len(workers):
                    try:
                        table.append(allocations.get(timeout=POLL_SECONDS))
                    except queue.Empty:
                        _check_alive(workers)
            except BaseException:
                for worker in workers:
                    if worker.is_alive():
                        worker.terminate()
                # Work nobody will read must not hold the interpreter at exit.
                work.cancel_join_thread()
                raise
            finally:
                for worker in workers:
                    if worker.pid is not None:
                        worker.join()
            self.finalize([a for worker_allocations in table for a in worker_allocations])
        finally:
            self.metadata_sm.close()
            self.metadata_sm.unlink()
