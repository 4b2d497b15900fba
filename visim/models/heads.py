"""SimSiam's projector and predictor MLPs (Chen & He 2021; docs/method.md section 1)."""

from __future__ import annotations

import torch
from torch import nn


def _linear_bn_relu(in_dim: int, out_dim: int) -> list[nn.Module]:
    # No bias: the BN that follows would cancel it.
    return [nn.Linear(in_dim, out_dim, bias=False), nn.BatchNorm1d(out_dim), nn.ReLU(inplace=True)]


class Projector(nn.Sequential):
    """features [B, in_dim] -> z [B, out_dim].

    `layers` Linear(bias=False)-BN blocks, ReLU after all but the last, whose BN has no affine
    parameters. SimSiam uses 3 layers on ImageNet and 2 on CIFAR; hidden width = out_dim.
    """

    def __init__(self, in_dim: int, out_dim: int = 2048, layers: int = 3) -> None:
        if layers < 1:
            raise ValueError(f"layers must be at least 1, got {layers}")
        blocks: list[nn.Module] = []
        width = in_dim
        for _ in range(layers - 1):
            blocks += _linear_bn_relu(width, out_dim)
            width = out_dim
        blocks += [nn.Linear(width, out_dim, bias=False), nn.BatchNorm1d(out_dim, affine=False)]
        super().__init__(*blocks)


class Predictor(nn.Module):
    """z [B, dim] -> p [B, dim] through a bottleneck [B, hidden_dim]: Linear-BN-ReLU, Linear."""

    def __init__(self, dim: int = 2048, hidden_dim: int = 512) -> None:
        super().__init__()
        self.hidden = nn.Sequential(*_linear_bn_relu(dim, hidden_dim))
        self.output = nn.Linear(hidden_dim, dim)

    def forward_with_hidden(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(p [B, dim], hidden activation [B, hidden_dim]); the latter can feed a kappa head."""
        hidden = self.hidden(z)
        return self.output(hidden), hidden

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.forward_with_hidden(z)[0]
