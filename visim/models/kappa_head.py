"""The per-image concentration kappa of VI-SimSiam's posterior (METHOD.md section 2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visim.models.full_precision import autocast_disabled
from visim.models.model_config import DEFAULT_KAPPA_FLOOR


class KappaHead(nn.Module):
    """features [B, in_dim] -> kappa [B] = min(softplus(Linear(features)) + floor, max_value)."""

    def __init__(
        self, in_dim: int, floor: float = DEFAULT_KAPPA_FLOOR, max_value: float | None = None
    ) -> None:
        super().__init__()
        if floor < 0:
            raise ValueError(f"floor must be non-negative, got {floor}")
        if max_value is not None and max_value <= floor:
            raise ValueError(f"max_value must exceed floor ({floor}), got {max_value}")
        self.linear = nn.Linear(in_dim, 1)
        self.floor = floor
        self.max_value = max_value

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # float32 whatever autocast says: late in training kappa is ~1e4, where bf16 steps by 64.
        with autocast_disabled(features.device):
            weight, bias = self.linear.weight.float(), self.linear.bias.float()
            raw = F.linear(features.float(), weight, bias).squeeze(-1)  # [B, 1] -> [B]
            kappa = F.softplus(raw) + self.floor
            if self.max_value is not None:
                # Collapse (every cosine -> 1) drives kappa to infinity; the clamp bounds it.
                kappa = kappa.clamp(max=self.max_value)
            return kappa
