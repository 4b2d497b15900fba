"""Write a file so that readers see either the old content or the new, never half of it.

A run can be killed at any moment (kill -9, a node failure): a checkpoint or export that is
cut short must not replace a good one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(temporary_path), flush it to disk, then rename it onto `path`.

    If anything fails or interrupts the write (Ctrl-C too), the temporary file is removed and
    `path` keeps what it held before.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    # The rename itself lives in the directory entry: flush that too.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text))
