"""Turn SIGINT / SIGTERM into a request to stop after the current step.

The loop polls `requested` once per step, then writes a checkpoint and exits with 128 + the
signal number (130 for SIGINT, 143 for SIGTERM), as shells and schedulers expect.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeAlias

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# What signal.signal takes and gives back.
Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class GracefulStop:
    """A context manager that records the first stop signal instead of dying on it.

    With second_signal_aborts, a second Ctrl-C stops at once (KeyboardInterrupt) for a user
    who will not wait for the checkpoint. Processes started by visim's own launcher turn that
    off: they can receive the same signal twice, from the terminal and from their parent.
    """

    def __init__(self, second_signal_aborts: bool = True) -> None:
        self.second_signal_aborts = second_signal_aborts
        self.signum: int | None = None
        self._previous: dict[int, Handler] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGTERM)

    def request(self, signum: int = signal.SIGTERM) -> None:
        """Ask for a stop as if `signum` had arrived."""
        if self.signum is None:
            self.signum = signum

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and self.second_signal_aborts and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.request(signum)

    def __enter__(self) -> GracefulStop:
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
