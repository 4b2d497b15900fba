"""Cheap statistics that reveal representational collapse and runaway kappa while training."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def representation_std(z: torch.Tensor) -> float:
    """Mean over dims of the batch std of z/|z| ([B, D] -> scalar).

    About 1/sqrt(D) for well-spread outputs, 0 when every image maps to one point
    (SimSiam section 4.1).
    """
    if z.dim() != 2 or z.shape[0] < 2:
        raise ValueError(f"z must be [B, D] with B >= 2, got {tuple(z.shape)}")
    return F.normalize(z.float(), dim=-1).std(dim=0).mean().item()


@torch.no_grad()
def kappa_statistics(kappa: torch.Tensor, kappa_max: float | None = None) -> dict[str, float]:
    """mean / min / max of kappa [B], and with kappa_max the fraction pinned at the clamp.

    A fraction at the clamp that keeps growing is the signature of collapse (METHOD.md 2).
    """
    if kappa.dim() != 1:
        raise ValueError(f"kappa must have shape [B], got {tuple(kappa.shape)}")
    kappa = kappa.float()
    stats = {"mean": kappa.mean().item(), "min": kappa.min().item(), "max": kappa.max().item()}
    if kappa_max is not None:
        stats["at_max_fraction"] = (kappa >= kappa_max).float().mean().item()
    return stats
