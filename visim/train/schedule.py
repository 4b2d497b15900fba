"""The learning-rate schedule: linear warmup, then cosine decay to zero, per optimizer step.

The scheduler is stepped by the loop itself, once per training step in every process. It is
never handed to accelerator.prepare, whose wrapper would step it once per process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch.optim.lr_scheduler import LambdaLR


def peak_lr(base_lr: float, global_batch_size: int) -> float:
    """SimSiam's linear scaling rule: lr = base_lr * batch / 256."""
    return base_lr * global_batch_size / 256


def lr_factor(step: int, *, total_steps: int, warmup_steps: int) -> float:
    """The multiple of the peak LR used by step `step` (0-based).

    Warmup rises linearly to 1 at step warmup_steps - 1, so even the first step learns; the
    cosine then falls from 1 towards 0 at total_steps.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def _constant(step: int) -> float:
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_steps: int
) -> LambdaLR:
    """Cosine-with-warmup for every group, except groups marked `fixed_lr` (the predictor
    under --fix-pred-lr), which keep their initial LR."""
    decaying = partial(lr_factor, total_steps=total_steps, warmup_steps=warmup_steps)
    lambdas: list[Callable[[int], float]] = [
        _constant if group.get("fixed_lr", False) else decaying for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, lambdas)


def apply_scheduled_lr(scheduler: LambdaLR) -> None:
    """Set every group's LR to what the schedule gives at its current step.

    Needed after loading a checkpoint into a schedule of another length (--epochs changed on
    resume): the optimizer state carries the LRs of the old schedule.
    """
    step = scheduler.last_epoch
    for group, base, factor in zip(
        scheduler.optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
    ):
        group["lr"] = base * factor(step)
