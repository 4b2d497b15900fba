"""Skipping non-finite optimizer steps without waiting for the device.

Reading a loss on the host (`loss.item()`) makes the host wait until the GPU has finished the
step, every step, so the next step's kernels cannot be queued behind it. Here the decision
stays on the device: a 0/1 tensor `found` that the fused SGD kernel takes as `found_inf`
(GradScaler's mechanism) and that turns its update into a no-op. The counts the run needs
(steps skipped, the first step at which too many were skipped in a row) are kept on the device
too and read only when the loop reads its metrics anyway.

A step is non-finite when its loss is, or any gradient is (a finite loss can still give inf
gradients). With several processes the flag is all-reduced on the device, so every process
skips the same steps. With an fp16 gradient scaler the scaler itself skips steps with
non-finite gradients, and its overflows while it calibrates are routine: only the loss counts
then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

NO_STEP = 0  # limit_step before the limit was ever reached (optimizer steps count from 1)


@dataclass(frozen=True)
class NonfiniteCounts:
    total: int  # steps skipped since the run started
    limit_step: int  # the first step that made `limit` skipped steps in a row; NO_STEP if none


class NonfiniteGuard:
    """Flags, counts and skips non-finite steps of one process, on its device."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        *,
        limit: int,
        scaler_skips: bool,
        all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None,
    ) -> None:
        """optimizer: the fused SGD (not a wrapper), which reads its `found_inf` attribute.
        limit: consecutive skipped steps that mark the run as failed.
        scaler_skips: a gradient scaler skips steps itself (fp16): count non-finite losses only.
        all_reduce_sum: sums a tensor over the processes; None when training alone."""
        self.optimizer = optimizer
        self.device = device
        self.limit = limit
        self.scaler_skips = scaler_skips
        self.all_reduce_sum = all_reduce_sum
        self.restore(total=0)

    def restore(self, total: int) -> None:
        """Start counting from `total` skipped steps, with no streak (a resumed run)."""
        self._total = torch.tensor(total, dtype=torch.int64, device=self.device)
        self._streak = torch.zeros((), dtype=torch.int64, device=self.device)
        self._limit_step = torch.full((), NO_STEP, dtype=torch.int64, device=self.device)

    def check(
        self,
        loss: torch.Tensor,
        parameters: Iterable[torch.nn.Parameter],
        step: int,
        gradient_norm: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decide whether optimizer step `step` (1-based) is skipped, after backward and before
        optimizer.step(); returns the device flag (float32 0 or 1). Never waits for the device.
        gradient_norm: the total norm of `parameters`' gradients where the caller has it already
        (gradient clipping computes it), so that they are not read a second time."""
        found = torch.logical_not(torch.isfinite(loss.detach()))
        if not self.scaler_skips:
            if gradient_norm is None:
                gradients = [p.grad for p in parameters if p.grad is not None]
                if gradients:
                    gradient_norm = torch.nn.utils.get_total_norm(
                        gradients, error_if_nonfinite=False
                    )
            if gradient_norm is not None:
                # One fused pass over every gradient: a NaN or inf anywhere makes the norm
                # non-finite (so does a norm beyond float32's range, as unusable as a NaN).
                found = found | torch.logical_not(torch.isfinite(gradient_norm))
        found = found.to(torch.float32)
        if self.all_reduce_sum is not None:
            found = self.all_reduce_sum(found).clamp(max=1.0)
        if not self.scaler_skips:
            # The fused kernel's skip switch: an attribute torch's stubs do not declare.
            self.optimizer.found_inf = found  # type: ignore[attr-defined]
        skipped = found.to(torch.int64)
        self._total = self._total + skipped
        self._streak = (self._streak + 1) * skipped
        reached = (self._limit_step == NO_STEP) & (self._streak >= self.limit)
        self._limit_step = torch.where(reached, step, self._limit_step)
        return found

    def read(self) -> NonfiniteCounts:
        """The counts so far; waits for the device (call where the loop syncs anyway)."""
        total, limit_step = torch.stack([self._total, self._limit_step]).tolist()
        return NonfiniteCounts(total=total, limit_step=limit_step)
