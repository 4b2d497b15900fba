"""Which items of a source decode: every image file is read once, in worker processes,
before FFCV's writer sees any, so that a corrupt one is skipped and reported instead of
failing the write."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator

from visim.pipeline.convert.stop_points import StopCheck, never_stop
from visim.pipeline.convert.worker_processes import leave_stops_to_parent, stop_signals_blocked
from visim.pipeline.sources.base import ImageSource, UnreadableImage

SCAN_CHUNK = 32

# (phase, done, total): phase is "checking" (decoding every file once), "writing" (images), or
# "checksums" (MiB of the written file read back).
ProgressCallback = Callable[[str, int, int], None]


def no_progress(phase: str, done: int, total: int) -> None:
    """The default ProgressCallback: report nothing."""


def _problem(source: ImageSource, index: int) -> str | None:
    """Why item `index` cannot be decoded, or None when it can."""
    try:
        source.load(index)
    except UnreadableImage as error:
        return error.reason
    return None


_scanned: ImageSource | None = None  # in each checking worker: the source it checks


def _start_scan_worker(source: ImageSource) -> None:
    global _scanned
    leave_stops_to_parent()
    _scanned = source


def _scan_worker_problem(index: int) -> str | None:
    if _scanned is None:
        raise RuntimeError("a scan worker runs only after _start_scan_worker")
    return _problem(_scanned, index)


def _problems(source: ImageSource, workers: int) -> Iterator[str | None]:
    """_problem() of every item, in order, decoded by `workers` processes."""
    if workers == 1:
        yield from (_problem(source, i) for i in range(len(source)))
        return
    with stop_signals_blocked():
        pool = multiprocessing.Pool(workers, _start_scan_worker, (source,))
    with pool:
        yield from pool.imap(_scan_worker_problem, range(len(source)), chunksize=SCAN_CHUNK)


def find_readable(
    source: ImageSource,
    workers: int = 1,
    progress: ProgressCallback = no_progress,
    stop_check: StopCheck = never_stop,
) -> tuple[list[int], list[dict[str, str]]]:
    """(indices of decodable items, [{path, reason}] of the others); stop_check is called
    after each item."""
    if not source.items_may_fail:
        return list(range(len(source))), []
    readable, skipped = [], []
    for index, problem in enumerate(_problems(source, workers)):
        stop_check()
        if problem is None:
            readable.append(index)
        else:
            skipped.append({"path": source.describe(index), "reason": problem})
        if index % SCAN_CHUNK == 0 or index == len(source) - 1:
            progress("checking", index + 1, len(source))
    return readable, skipped
