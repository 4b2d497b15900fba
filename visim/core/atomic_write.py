"""Write a file so that readers see either the old content or the new, never half of it.

A run can be killed at any moment (kill -9, a node failure): a checkpoint or export that is
cut short must not replace a good one. A write the storage refuses (a full disk, a read-only
file system, no permission) is a WriteFailed that names the file and the reason in one line,
with the temporary file removed and the old content in place.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from visim.core.pending_files import pending

REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EIO: "input/output error",
    errno.EFBIG: "file too large for the file system",
}
# Serialisers that write through their own C++ or Rust code (torch.save, safetensors) report
# a full disk in their own words, without an errno: "unexpected pos 576 vs 534" (torch's
# writer after a short write), "No space left on device (os error 28)" (safetensors).
FULL_DISK_WORDS = ("no space left", "unexpected pos", "file write failed", "os error 28")
# Below this much free space after a failed write, a failure without an errno is taken for a
# full disk: the write itself has used up what was left.
NEARLY_FULL_BYTES = 2**20


class WriteFailed(Exception):
    """Writing `path` failed for `reason` (one line); `path` holds what it held before."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"could not write {path}: {reason}")
        self.path = Path(path)
        self.reason = reason


def free_bytes(directory: Path) -> int | None:
    """Free bytes on the file system of `directory` (or its nearest existing parent)."""
    for candidate in (Path(directory), *Path(directory).parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def storage_failure(error: BaseException, directory: Path) -> str | None:
    """The reason, in words, when `error` is the storage refusing a write; None when it is
    something else (a bug in the writer, which must not be dressed up as a full disk)."""
    if isinstance(error, OSError) and error.errno in REASONS:
        return REASONS[error.errno]
    text = str(error).lower()
    free = free_bytes(directory)
    if any(words in text for words in FULL_DISK_WORDS) or (
        isinstance(error, (OSError, RuntimeError)) and free is not None and free < NEARLY_FULL_BYTES
    ):
        return "no space left on device" + (f" ({free:,} bytes free)" if free is not None else "")
    return None


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call write(temporary_path), flush it to disk, then rename it onto `path`.

    If anything fails or interrupts the write (Ctrl-C too), the temporary file is removed and
    `path` keeps what it held before; a failure of the storage is raised as WriteFailed.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        with pending(temporary):
            write(temporary)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, path)
    except BaseException as error:
        # Judged before the temporary goes: its removal frees the space it filled.
        reason = storage_failure(error, path.parent) if isinstance(error, Exception) else None
        temporary.unlink(missing_ok=True)
        if reason is not None:
            raise WriteFailed(path, reason) from error
        raise
    # The rename itself lives in the directory entry: flush that too.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda temporary: temporary.write_text(text))
