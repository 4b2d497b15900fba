"""Training checkpoints: atomic files in RUN_DIR/checkpoints, the last two kept.

A checkpoint holds everything a resumed run needs to continue as if never stopped: model,
optimizer, gradient scaler, scheduler, every random generator of every process, and the loader
position (the next epoch and batch to read; loaders replay an epoch exactly from it).
"""

from __future__ import annotations

import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from visim.train.atomic_write import write_atomically

KEEP_LAST = 2
_NAME = re.compile(r"^step-(\d+)\.pt$")


@dataclass(frozen=True)
class Position:
    """Where training stands: `step` optimizer steps done; the next batch to read is batch
    `batch` of epoch `epoch` (both 0-based)."""

    epoch: int
    batch: int
    step: int


def capture_rng() -> dict:
    """This process's generators, in types torch.load(weights_only=True) accepts."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
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
    write_atomically(path, lambda temporary: torch.save(payload, temporary))
    for old in checkpoint_paths(directory)[:-KEEP_LAST]:
        old.unlink()
    return path


def load_checkpoint(path: Path) -> tuple[Position, dict]:
    """(position, state) of a checkpoint written by save_checkpoint; tensors on the CPU."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    return Position(**state.pop("position")), state
