"""One optimizer step of a run: forward, loss, backward, clipping, the non-finite guard, the
update and the schedule, added to the metrics window."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from accelerate import Accelerator
from torch.optim.lr_scheduler import LambdaLR

from visim.models.siamese import SiameseOutput
from visim.pipeline.backends.batch import Batch
from visim.train.metrics import MetricsWindow
from visim.train.nonfinite_guard import NonfiniteGuard


@dataclass(frozen=True)
class OptimizerStep:
    trained_model: torch.nn.Module  # the model as Accelerate prepared it (DDP, compiled)
    model: Any  # the model itself (SiameseNetwork): its loss and parameter groups
    accelerator: Accelerator
    optimizer: Any  # Accelerate's wrapper of the optimizer
    scheduler: LambdaLR
    guard: NonfiniteGuard
    window: MetricsWindow
    clip: float | None  # --clip-grad-norm

    def __call__(
        self, batch: Batch, step: int, log_step: bool, data_wait: float
    ) -> tuple[SiameseOutput, list[float], float]:
        """Optimizer step number `step`, skipped on the device when the loss or a gradient is
        not finite: (output, LRs used, the encoder's gradient norm on a log step, else NaN).
        Nothing here waits for the device except that norm on a log step."""
        output = self.trained_model(batch.view1, batch.view2)
        loss = self.model.loss(output)  # float32 whatever the precision
        self.accelerator.backward(loss)
        # Read only on log steps, which are sync points anyway. Under fp16 the gradients are
        # still scaled here, so the norm is divided by the scale to stay comparable.
        grad_norm = self._encoder_grad_norm() if log_step else math.nan
        clip = self.clip
        # Clipping unscales fp16 gradients first, and returns the norm before clipping: the
        # guard judges that one (a non-finite norm skips the step) instead of reading every
        # gradient again. Logged norms above are the unclipped ones too.
        unclipped_norm = (
            self.accelerator.clip_grad_norm_(self.model.parameters(), clip)
            if clip is not None
            else None
        )
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.guard.check(loss, self.model.parameters(), step=step, gradient_norm=unclipped_norm)
        self.optimizer.step()  # a no-op where the guard found a non-finite value
        self.optimizer.zero_grad(set_to_none=True)
        # Skipped steps advance the schedule too: the LR stays a function of the step.
        self.scheduler.step()
        # Whether clipping scaled this step's gradient down (a skipped step's was not used).
        clipped = (
            None
            if unclipped_norm is None
            else torch.isfinite(unclipped_norm) & (unclipped_norm > clip)
        )
        self.window.add_step(loss.detach(), data_wait, clipped)
        return output, lrs, grad_norm

    def _encoder_grad_norm(self) -> float:
        encoder = self.model.parameter_groups()["encoder"]
        grads = [p.grad for p in encoder if p.grad is not None]
        if not grads:
            return math.nan
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        scaler = self.accelerator.scaler
        return norm.item() / (scaler.get_scale() if scaler is not None else 1.0)
