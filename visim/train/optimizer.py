"""SimSiam's optimiser: SGD with momentum over named parameter groups (docs/method.md section 1).

The fused implementation: one kernel updates every parameter, and it takes a `found_inf`
flag on the device that turns the whole update into a no-op, so a non-finite step is skipped
without the host reading anything (visim.train.nonfinite_guard sets the flag).
"""

from __future__ import annotations

import torch

from visim.models.siamese import SiameseModel
from visim.train.config import OptimConfig
from visim.train.schedule import peak_lr


def build_optimizer(model: SiameseModel, optim: OptimConfig) -> torch.optim.SGD:
    """SGD at lr = optim.lr * batch / 256, one group per model part (and per decay setting).

    Each group carries its `name` and `fixed_lr` (True for the predictor under fix_pred_lr;
    build_scheduler leaves such groups at their initial LR).
    """
    lr = peak_lr(optim.lr, optim.batch_size)
    groups = []
    for name, parameters in model.parameter_groups().items():
        fixed = name == "predictor" and optim.fix_pred_lr
        if optim.decay_norm_and_bias:
            split = {name: (parameters, optim.weight_decay)}
        else:
            # Weights of linear and conv layers have 2+ dims; BN weights and biases have one.
            split = {
                name: ([p for p in parameters if p.dim() > 1], optim.weight_decay),
                f"{name}-no-decay": ([p for p in parameters if p.dim() <= 1], 0.0),
            }
        for group_name, (params, decay) in split.items():
            if params:
                groups.append(
                    {"params": params, "name": group_name, "fixed_lr": fixed, "weight_decay": decay}
                )
    return torch.optim.SGD(groups, lr=lr, momentum=optim.momentum, fused=True)


def create_momentum_buffers(optimizer: torch.optim.SGD) -> None:
    """Zero momentum buffers for parameters that have none yet (call once the parameters are on
    their device).

    SGD otherwise creates them at the first step, uninitialised in the fused kernel, which
    fills them only when it runs: a first step skipped through found_inf would leave garbage
    there. Starting from zero gives the same first update: momentum * 0 + grad = grad.
    """
    for group in optimizer.param_groups:
        if group["momentum"] == 0:
            continue
        for parameter in group["params"]:
            state = optimizer.state[parameter]
            if state.get("momentum_buffer") is None:
                state["momentum_buffer"] = torch.zeros_like(
                    parameter, memory_format=torch.preserve_format
                )
