"""Training checkpoints: atomic files in RUN_DIR/checkpoints, the last two kept.

A checkpoint holds everything a resumed run needs to continue as if never stopped: model,
optimizer, gradient scaler, scheduler, every random generator of every process, and the loader
position (the next epoch and batch to read; loaders replay an epoch exactly from it).

Loading verifies: a file that is cut short, damaged or not a checkpoint is an
UnreadableCheckpoint with a one-line reason, and restore_newest() falls back to the newest
checkpoint that loads, moving the unreadable ones aside (step-N.pt.unreadable).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch

from visim.core.atomic_write import write_atomically

KEEP_LAST = 2
_NAME = re.compile(r"^step-(\d+)\.pt$")
UNREADABLE_SUFFIX = ".unreadable"  # where restore_newest() moves a checkpoint it cannot read
REASON_CHARACTERS = 200
# Fault-injection tests only (tests/train/test_kill_and_resume.py): when set to a path, the
# first checkpoint this process writes stops once its temporary file is complete, creates
# that path and waits, so that a test can kill the process between writing and renaming.
HOLD_BEFORE_RENAME_ENV = "VISIM_TEST_HOLD_CHECKPOINT_RENAME"


class UnreadableCheckpoint(Exception):
    """`path` is not a checkpoint that loads; `reason` says why in one line."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class NoUsableCheckpoint(ValueError):
    """A run has checkpoints and none of them can be restored; the message lists why."""


def one_line(error: BaseException) -> str:
    """An exception as one short line: torch's messages can span many."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return text[:REASON_CHARACTERS]


@dataclass(frozen=True)
class Position:
    """Where training stands: `step` optimizer steps done; the next batch to read is batch
    `batch` of epoch `epoch` (both 0-based)."""

    epoch: int
    batch: int
    step: int


def capture_rng() -> dict:
    """This process's generators, in types torch.load(weights_only=True) accepts."""
    numpy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    kind, keys, position, has_gauss, cached_gaussian = numpy_state
    state = {
        "python": random.getstate(),
        "numpy": (
            kind,
            torch.from_numpy(keys.astype(np.int64)),
            position,
            has_gauss,
            cached_gaussian,
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    random.setstate(state["python"])
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state(
        (kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian)
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_paths(directory: Path) -> list[Path]:
    """Complete checkpoints in `directory`, oldest first (temporary files are not listed)."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def checkpoint_step(path: Path) -> int | None:
    """The step a checkpoint file was written at, from its name; None for any other file."""
    match = _NAME.match(Path(path).name)
    return int(match.group(1)) if match else None


def latest_checkpoint(directory: Path) -> Path | None:
    paths = checkpoint_paths(directory)
    return paths[-1] if paths else None


def save_checkpoint(directory: Path, position: Position, state: dict) -> Path:
    """Write `state` plus `position` as step-<step>.pt, then delete all but the last two."""
    directory.mkdir(parents=True, exist_ok=True)
    # Left by a process killed while writing; never a complete checkpoint.
    for unfinished in directory.glob(".step-*.pt.tmp"):
        unfinished.unlink()
    path = directory / f"step-{position.step:09d}.pt"
    payload = {**state, "position": asdict(position)}

    def write(temporary: Path) -> None:
        torch.save(payload, temporary)
        _hold_for_fault_injection()

    write_atomically(path, write)
    for old in checkpoint_paths(directory)[:-KEEP_LAST]:
        old.unlink()
    return path


def _hold_for_fault_injection() -> None:
    """See HOLD_BEFORE_RENAME_ENV: nothing happens unless a test set it."""
    marker = os.environ.pop(HOLD_BEFORE_RENAME_ENV, None)
    if marker is None:
        return
    Path(marker).touch()
    while True:  # until the test kills this process
        time.sleep(1.0)


def load_checkpoint(path: Path) -> tuple[Position, dict]:
    """(position, state) of a checkpoint written by save_checkpoint; tensors on the CPU.

    UnreadableCheckpoint when the file is missing, cut short, damaged or holds no position.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, OSError
        raise UnreadableCheckpoint(path, f"cannot be read ({one_line(error)})") from None
    try:
        return Position(**state.pop("position")), state
    except (AttributeError, KeyError, TypeError):
        raise UnreadableCheckpoint(path, "not a visim checkpoint (no training position)") from None


def restore_newest(
    directory: Path, restore: Callable[[Position, dict], None]
) -> tuple[Path | None, list[str]]:
    """Hand the newest checkpoint in `directory` that loads to restore(position, state).

    Returns (its path, or None when there is no checkpoint yet; one line per checkpoint
    passed over, newest first). A checkpoint that cannot be read is moved aside to
    step-N.pt.unreadable, so that it is never picked again nor counted among the last two
    kept; one that restore() rejects (KeyError, ValueError, RuntimeError: it does not fit
    this run) is left where it is. NoUsableCheckpoint when none can be restored.
    """
    passed_over = []
    for path in reversed(checkpoint_paths(directory)):
        try:
            position, state = load_checkpoint(path)
        except UnreadableCheckpoint as error:
            aside = path.with_name(path.name + UNREADABLE_SUFFIX)
            # Another process of this run may have moved it already.
            with contextlib.suppress(FileNotFoundError):
                path.rename(aside)
            passed_over.append(f"{path.name} {error.reason}, moved aside to {aside.name}")
            continue
        try:
            restore(position, state)
        except (KeyError, ValueError, RuntimeError) as error:
            passed_over.append(f"{path.name} does not fit this run ({one_line(error)})")
            continue
        return path, passed_over
    if passed_over:
        raise NoUsableCheckpoint(
            f"no checkpoint in {directory} can be restored: {'; '.join(passed_over)}"
        )
    return None, []
