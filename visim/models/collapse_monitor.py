"""Cheap statistics that reveal representational collapse and runaway kappa while training."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visim.models.losses import vi_sample_losses


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
    """mean / min / max, spread (std, 5/50/95 % quantiles) of kappa [B], and with kappa_max
    the fraction pinned at the clamp.

    A spread that shrinks to nothing means kappa has stopped telling images apart; a fraction
    at the clamp that keeps growing is the signature of collapse (docs/method.md 2).
    """
    if kappa.dim() != 1:
        raise ValueError(f"kappa must have shape [B], got {tuple(kappa.shape)}")
    kappa = kappa.float()
    q05, median, q95 = torch.quantile(kappa, torch.tensor([0.05, 0.5, 0.95], device=kappa.device))
    stats = {
        "mean": kappa.mean().item(),
        "min": kappa.min().item(),
        "max": kappa.max().item(),
        "std": kappa.std().item() if len(kappa) > 1 else 0.0,
        "q05": q05.item(),
        "median": median.item(),
        "q95": q95.item(),
    }
    if kappa_max is not None:
        stats["at_max_fraction"] = (kappa >= kappa_max).float().mean().item()
    return stats


def alignment_gradient_scale(
    cosine: torch.Tensor, kappa: torch.Tensor | None, dim: int, form: str
) -> float:
    """Mean |dl/dc| over the batch: how much larger the encoder's step through the alignment
    is than SimSiam's, whose per-sample loss -c has |dl/dc| = 1.

    cosine, kappa: [B]; kappa None means SimSiam. Taken by autograd through the loss itself,
    so it follows whatever form trains (VI_LOSSES) without a second copy of its formulas.
    """
    if kappa is None:
        return 1.0
    with torch.enable_grad():
        c = cosine.detach().double().requires_grad_(True)
        losses = vi_sample_losses(c, kappa.detach().double(), dim, form)
        (slope,) = torch.autograd.grad(losses.sum(), c)
    return slope.abs().mean().item()
