"""Worker processes: Ctrl-C belongs to the parent, and a dead worker is an error, not a hang.

A terminal sends SIGINT to the whole process group. If workers took it too, each would print
its own KeyboardInterrupt traceback; instead the parent catches it, stops its workers and
removes what it had half written.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class WorkerDied(RuntimeError):
    """A worker process exited with an error; its traceback went to stderr."""


@contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while workers start; they are delivered when the block ends.

    Forked workers inherit the block, so no signal reaches them before they have run
    leave_stops_to_parent().
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def leave_stops_to_parent() -> None:
    """Run first in each worker: ignore Ctrl-C, let SIGTERM end the process silently."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
