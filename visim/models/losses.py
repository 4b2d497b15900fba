"""SimSiam's negative cosine and VI-SimSiam's Power Spherical objectives (docs/method.md 1-2).

The stop-gradient on the targets lives here, so no caller can forget it, and everything is
computed in float32 (float64 stays float64) with autocast disabled.

VI-SimSiam's per-sample objective is a function of the cosine c = mu.t and of kappa, in one of
five forms (VI_LOSSES); each has the value of the negative log-likelihood
l = log N(kappa, d) - kappa log(1 + c), so logs read the same whichever trains:

- "nll": l itself (the paper's objective). dl/dc = -kappa / (1 + c), so the encoder's gradient
  is SimSiam's times kappa / (1 + c), and kappa reaches 1e2-1e4 early in training.
- "relative": the encoder gets -w log(1 + c) with w = sg(kappa) / sg(mean kappa over the
  batch): SimSiam-scale steps, images weighted by their relative concentration; kappa fits l
  on sg(c), so the likelihood shapes kappa but not the alignment's scale.
- "unweighted": as "relative" with w = 1: the alignment is SimSiam's up to the monotone
  log(1 + c), and kappa is fitted beside it.
- "mean-kappa": as "relative" with w = sg(mean kappa over the batch): the NLL's step size,
  which grows with kappa, without its per-image weights.
- "cosine": as "relative", but the encoder gets -w c, SimSiam's own step on the cosine
  weighted by relative kappa: through log(1 + c) the step shrinks to about half SimSiam's
  as the views come to agree (d log(1 + c) / dc = 1 / (1 + c)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visim.models.model_config import VI_LOSSES
from visim.models.power_spherical import (
    PowerSpherical,
    at_least_float32,
    autocast_disabled,
    log_normalizer,
    log_sphere_area,
)


def _check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must both be [B, D] with the same shape, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )


def _check_kappa(name: str, kappa: torch.Tensor, p: torch.Tensor) -> None:
    if kappa.shape != p.shape[:1]:
        raise ValueError(
            f"{name} must have shape [B] = {tuple(p.shape[:1])}, got {tuple(kappa.shape)}; "
            "a [B, 1] kappa would broadcast the loss to [B, B]: squeeze it"
        )


def _directions(p: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, t): unit-norm prediction and stop-gradient unit-norm target, both [B, D]."""
    p, z = at_least_float32(p, z.detach())
    return F.normalize(p, dim=-1), F.normalize(z, dim=-1)


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Per-sample -cos(p, sg(z)): [B, D] x [B, D] -> [B]."""
    _check_same_shape("p", p, "z", z)
    with autocast_disabled(p.device):
        mu, t = _directions(p, z)
        return -(mu * t).sum(-1)


def power_spherical_nll(p: torch.Tensor, z: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
    """Per-sample l = -log PowerSpherical(t; mu, kappa), mu = p/|p|, t = sg(z)/|z|: -> [B].

    kappa must be non-negative (the kappa head guarantees it). Only shapes are checked here:
    mu and t are unit by construction, and checking values would make every training step wait
    for the accelerator.
    """
    _check_same_shape("p", p, "z", z)
    _check_kappa("kappa", kappa, p)
    with autocast_disabled(p.device):
        mu, t = _directions(p, z)
        return -PowerSpherical(mu, kappa, validate_args=False).log_prob(t)


def vi_sample_losses(
    cosine: torch.Tensor, kappa: torch.Tensor, dim: int, form: str
) -> torch.Tensor:
    """Per-sample VI-SimSiam objective of cosines c [B] and concentrations kappa [B] in R^dim.

    The value is always the NLL l(c, kappa); `form` (one of VI_LOSSES) decides which gradient
    reaches the encoder through c and the kappa head through kappa (module docstring).
    """
    if form not in VI_LOSSES:
        raise ValueError(f"VI loss form must be one of {VI_LOSSES}, got {form!r}")
    # log1p(-1) = -inf: keep the cosine just above -1, as PowerSpherical.log_prob does.
    cosine = cosine.clamp(min=-1 + torch.finfo(cosine.dtype).eps)
    log_norm = log_normalizer(kappa, dim)
    if form == "nll":
        return log_norm - kappa * torch.log1p(cosine)
    fit = log_norm - kappa * torch.log1p(cosine.detach())  # gradient to kappa only
    # Only the form's own weight is computed: this runs at every training step.
    held = kappa.detach()
    if form == "unweighted":
        weight = torch.ones_like(held)
    elif form == "mean-kappa":
        weight = held.mean().expand_as(held)
    else:  # relative, cosine
        weight = held / held.mean()
    agreement = cosine if form == "cosine" else torch.log1p(cosine)
    alignment = -weight * agreement  # gradient to the encoder only
    # alignment - sg(alignment) is 0 in value: the sum keeps the NLL's value for the logs.
    return fit + (alignment - alignment.detach())


def simsiam_loss(
    p1: torch.Tensor, p2: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor
) -> torch.Tensor:
    """-1/2 [cos(p1, sg(z2)) + cos(p2, sg(z1))], batch mean: a scalar in [-1, 1]."""
    _check_same_shape("p1", p1, "z2", z2)
    _check_same_shape("p2", p2, "z1", z1)
    return 0.5 * (negative_cosine(p1, z2).mean() + negative_cosine(p2, z1).mean())


def vi_simsiam_loss(
    p1: torch.Tensor,
    p2: torch.Tensor,
    z1: torch.Tensor,
    z2: torch.Tensor,
    kappa1: torch.Tensor,
    kappa2: torch.Tensor,
    form: str = "nll",
) -> torch.Tensor:
    """1/2 [l(mu1, kappa1; t2) + l(mu2, kappa2; t1)], batch mean (docs/method.md section 2).

    `form` picks the gradients (vi_sample_losses); the value is the NLL in every form.
    Around -log area(S^{D-1}) at initialisation (-4898.38 at D = 2048): subtract
    uniform_log_density(D) for a readable log.
    """
    _check_same_shape("p1", p1, "z2", z2)
    _check_same_shape("p2", p2, "z1", z1)
    _check_kappa("kappa1", kappa1, p1)
    _check_kappa("kappa2", kappa2, p2)
    with autocast_disabled(p1.device):
        halves = []
        for p, z, kappa in ((p1, z2, kappa1), (p2, z1, kappa2)):
            mu, t, kappa = at_least_float32(*_directions(p, z), kappa)
            halves.append(vi_sample_losses((mu * t).sum(-1), kappa, p.shape[-1], form).mean())
        return 0.5 * (halves[0] + halves[1])


def uniform_log_density(dim: int) -> float:
    """log density of the uniform distribution on S^{dim-1}: 4898.38 at dim = 2048.

    The VI loss equals minus this value when kappa = 0, so `loss + uniform_log_density(D)` reads
    0 for an uninformative posterior and goes negative as the fit improves.
    """
    return -log_sphere_area(dim)
