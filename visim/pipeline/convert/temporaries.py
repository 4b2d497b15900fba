"""Files written under a hidden temporary name and renamed into place only when complete, so
an interrupted write leaves nothing at the output path; the temporaries of writers killed
outright are found by their process id and removed by the next write to the same path."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from visim.pipeline.convert.worker_processes import stop_signals_blocked


def temporary_path(path: Path, pid: int | None = None) -> Path:
    """Where `path` is written before it is complete: hidden, same folder, same filesystem,
    named after the writing process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid() if pid is None else pid}")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_temporaries(path: Path) -> None:
    """Delete the temporaries of `path` whose writer is gone (killed outright, a crash)."""
    pattern = temporary_path(path, pid=0).name.removesuffix("0")
    for leftover in path.parent.glob(glob.escape(pattern) + "*"):
        pid = leftover.name.removeprefix(pattern)
        if pid.isdigit() and not _running(int(pid)):
            leftover.unlink(missing_ok=True)


def publish(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary into place, in order; no stop signal can split them."""
    for temporary, _ in pairs:
        # On disk before the rename, so a crash cannot leave a short file under the real name.
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
    with stop_signals_blocked():
        for temporary, final in pairs:
            os.replace(temporary, final)
