"""Worker processes: Ctrl-C belongs to the parent, and a dead worker is an error, not a hang.

A terminal sends SIGINT to the whole process group. If workers took it too, each would print
its own KeyboardInterrupt traceback; instead the parent catches it, stops its workers and
removes what it had half written.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from visim.core.stop_signals import STOP_SIGNALS

PR_SET_PDEATHSIG = 1  # linux/prctl.h


class WorkerDied(RuntimeError):
    """A worker process exited with an error; its traceback went to stderr."""


@contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while workers start; they are delivered when the block ends.

    Forked workers inherit the block, so no signal reaches them before they have run
    leave_stops_to_parent(). The block covers only this thread, though: another one (a
    queue's feeder) can still take the signal, and Python would then raise in this thread
    in the middle of a fork, before the new process is known to anyone, who would then
    never stop it. So the handlers only note a signal until the block ends, and it is
    raised again then.
    """
    held: list[int] = []
    handlers = {
        signum: signal.signal(signum, lambda number, frame: held.append(number))
        for signum in STOP_SIGNALS
    }
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for signum, handler in handlers.items():
            # None: a handler installed outside Python, which cannot be put back; the default.
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for noted in dict.fromkeys(held):
            signal.raise_signal(noted)


def leave_stops_to_parent() -> None:
    """Run first in each worker: ignore Ctrl-C, let SIGTERM end the process silently, and
    end with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _end_with_parent()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _end_with_parent() -> None:
    """On Linux, have the kernel kill this worker when its parent dies. A parent killed
    outright (SIGKILL, the OOM killer) cannot stop its workers, which would otherwise go on
    working for nobody."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the prctl
        os._exit(1)
