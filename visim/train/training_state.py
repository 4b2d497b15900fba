"""What a checkpoint holds of a run in training, and putting it back into the live objects.

A checkpoint (checkpoint.save_checkpoint) is a dict of: the model, the optimizer, the LR
schedule, the fp16 gradient scaler (None without one), every process's RNG streams and the
count of non-finite steps skipped so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from visim.train.checkpoint import restore_rng
from visim.train.nonfinite_guard import NonfiniteGuard
from visim.train.schedule import apply_scheduled_lr


@dataclass(frozen=True)
class TrainingState:
    model: torch.nn.Module
    optimizer: Any  # torch's Optimizer, or Accelerate's wrapper of one
    scheduler: LambdaLR
    scaler: Any  # torch's GradScaler under fp16, else None
    guard: NonfiniteGuard

    def to_checkpoint(self, rng_states: list) -> dict:
        """The checkpoint's content; `rng_states`: one entry per process, in rank order."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler else None,
            "rng": rng_states,
            "nonfinite_steps": self.guard.read().total,
        }

    def load_checkpoint(self, state: dict, rank: int, world: int) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        # The restored LRs follow the old schedule; --epochs may have changed it.
        apply_scheduled_lr(self.scheduler)
        if self.scaler is not None and state["scaler"] is not None:
            self.scaler.load_state_dict(state["scaler"])
        # Per-process generators only fit the same number of processes.
        if len(state["rng"]) == world:
            restore_rng(state["rng"][rank])
        self.guard.restore(total=state["nonfinite_steps"])
