"""The storage under a run directory: checked before a run starts, watched as checkpoints are
written, and the one line a run that could not write ends with.

A checkpoint is written beside the previous ones and only then are the older ones removed
(checkpoint.KEEP_LAST), so the next one needs its whole size free. Before the first one that
size is estimated from the model (weights plus as much again for the optimizer's momentum);
after it, the file just written says.
"""

from __future__ import annotations

import torch

from visim.core.atomic_write import (
    WriteFailed,
    free_bytes,
    storage_failure,
    write_text_atomically,
)
from visim.train.checkpoint import latest_checkpoint
from visim.train.run_dir import RunDir

MIB = 2**20
# Margin over one checkpoint's size under which the free space is worth a warning.
SPACE_MARGIN = 1.2
WRITE_PROBE = ".visim-write-check"


def check_writable(run_dir: RunDir) -> None:
    """WriteFailed naming the run directory when a file cannot be written there."""
    try:
        run_dir.path.mkdir(parents=True, exist_ok=True)
        probe = run_dir.path / WRITE_PROBE
        write_text_atomically(probe, "")
        probe.unlink()
    except WriteFailed as failed:
        raise WriteFailed(run_dir.path, failed.reason) from None
    except OSError as error:
        reason = storage_failure(error, run_dir.path) or error.strerror or str(error)
        raise WriteFailed(run_dir.path, reason) from None


def estimated_checkpoint_bytes(model: torch.nn.Module) -> int:
    """Weights and buffers, and SGD's momentum buffer per parameter: the tensors a
    checkpoint holds, before the first one exists to say."""
    state = sum(tensor.numel() * tensor.element_size() for tensor in model.state_dict().values())
    return state + sum(p.numel() * p.element_size() for p in model.parameters())


def space_warning(run_dir: RunDir, checkpoint_bytes: int) -> str | None:
    """One line when the run directory's file system has too little room for the next
    checkpoint of `checkpoint_bytes`; None when it has room (or cannot say)."""
    free = free_bytes(run_dir.checkpoints)
    if free is None or free >= SPACE_MARGIN * checkpoint_bytes:
        return None
    return (
        f"{free / MIB:.0f} MiB free under {run_dir.path}, and a checkpoint takes about "
        f"{checkpoint_bytes / MIB:.0f} MiB: the run will stop at the first one that does not "
        "fit, keeping the last good one"
    )


def failed_write_line(error: WriteFailed, run_dir: RunDir) -> str:
    """What failed, and what is safe: the last good checkpoint and how to continue from it."""
    kept = latest_checkpoint(run_dir.checkpoints)
    if kept is None:
        return f"{error}; no checkpoint had been written yet: make room, then start again"
    return (
        f"{error}; the last good checkpoint, {kept.name}, is kept: make room, then continue "
        f"with: visim pretrain --resume {run_dir.path}"
    )
