"""Temporary files being written at this moment, so that a process that must end at once
removes them first.

write_atomically registers its temporary here while it writes. A Ctrl-C that lands inside an
import ends the process without unwinding (visim.cli.interrupts.exit_now: a half-imported
module cannot be trusted to clean up), and a writer can import lazily, pyarrow or matplotlib
say, after creating its file: without this, that .NAME.tmp would stay behind. Standard
library only, as interrupts needs it before anything heavy is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

_PENDING: set[Path] = set()


@contextmanager
def pending(path: Path) -> Iterator[None]:
    """Inside: `path` is removed by remove_pending() if the process ends at once."""
    _PENDING.add(path)
    try:
        yield
    finally:
        _PENDING.discard(path)


def remove_pending() -> None:
    for path in list(_PENDING):
        with suppress(OSError):  # not created yet, or already gone
            os.unlink(path)
