"""Ctrl-C and SIGTERM during a conversion (or an evaluation's loader): noted when they arrive,
acted on where the work chooses.

Python raises KeyboardInterrupt wherever the main thread happens to be. Raised inside a
library call that holds a threading lock (multiprocessing.Queue.put holds its queue's), it can
leave the lock held, and the queue's exit handler then waits for it forever: the process hangs
instead of exiting. Raised inside a lazy import, it ends the process before the conversion can
remove its temporary files (visim.cli.interrupts). So while a conversion runs, a stop signal is
only recorded, and the conversion calls its stop check between library calls, where raising
KeyboardInterrupt is safe: it stops within one image or one poll of its writers.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from visim.core.stop_signals import GracefulStop

# Raises KeyboardInterrupt once SIGINT or SIGTERM has arrived; returns otherwise.
StopCheck = Callable[[], None]


def never_stop() -> None:
    """The StopCheck that never stops: for a conversion outside the main thread, where no
    signal can be noted, and for callers of find_readable without stop points."""


@contextmanager
def stop_points() -> Iterator[StopCheck]:
    """Inside: stop signals are noted instead of raised; the yielded check raises the first
    one, once.

    A stop noted after the last check is raised when the block ends, so that it is never
    lost. A second Ctrl-C raises at once, for a user who will not wait.
    """
    if threading.current_thread() is not threading.main_thread():
        yield never_stop  # signals are delivered to the main thread only
        return

    with GracefulStop() as stop:
        raised = False

        def check() -> None:
            nonlocal raised
            if stop.requested and not raised:
                raised = True
                raise KeyboardInterrupt

        yield check
    check()
