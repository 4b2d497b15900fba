"""The per-image concentration kappa of VI-SimSiam's posterior (docs/method.md section 2)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from visim.models.model_config import DEFAULT_KAPPA_FLOOR, KAPPA_PARAMS
from visim.models.power_spherical import autocast_disabled

# The moment head's expected log(1 + c) stays this far below its bound log 2, where kappa is
# infinite: kappa then tops out near 1e9 at d = 2048, far above any fit.
MAX_MOMENT_GAP = 1e-6
NEWTON_STEPS = 8


def kappa_from_moment(moment: torch.Tensor, dim: int) -> torch.Tensor:
    """The kappa whose Power Spherical has E[log(1 + mu.x)] = moment, elementwise ([...]).

    E[log(1 + c)] = log 2 + psi(alpha) - psi(alpha + beta) (the sufficient statistic's mean,
    increasing in kappa from about -1/(4 beta) at kappa = 0 to log 2 as kappa -> infinity).
    Newton's method in float64 from the large-beta solution kappa = (d-1) c / (1-c) with
    c = e^moment - 1; moments below the kappa = 0 value give 0.
    """
    beta = 0.5 * (dim - 1)
    y = moment.double().clamp(max=math.log(2.0) - MAX_MOMENT_GAP)
    c = torch.expm1(y).clamp(min=0.0)
    kappa = 2 * beta * c / (1 - c)
    for _ in range(NEWTON_STEPS):
        alpha = beta + kappa
        excess = math.log(2.0) + torch.digamma(alpha) - torch.digamma(alpha + beta) - y
        slope = torch.polygamma(1, alpha) - torch.polygamma(1, alpha + beta)
        kappa = (kappa - excess / slope).clamp(min=0.0)
    return kappa.to(moment.dtype)


def moment_of_kappa(kappa: torch.Tensor, dim: int) -> torch.Tensor:
    """E[log(1 + mu.x)] under the Power Spherical of concentration kappa on S^{dim-1},
    elementwise: the inverse of kappa_from_moment (float64 inside, kappa's dtype out)."""
    beta = 0.5 * (dim - 1)
    alpha = beta + kappa.double()
    return (math.log(2.0) + torch.digamma(alpha) - torch.digamma(alpha + beta)).to(kappa.dtype)


def supported_kappa(kappa: torch.Tensor, support: torch.Tensor, dim: int, floor: float):
    """The kappa whose expected log(1 + c) is `support` (in (0, 1], [B]) times kappa's:
    kappa itself at support 1, falling towards the uniform prior's as support falls
    (docs/method.md section 2.4); never below floor."""
    moment = support.double() * moment_of_kappa(kappa, dim).double()
    return kappa_from_moment(moment, dim).clamp(min=floor).to(kappa.dtype)


def maximum_likelihood_kappa(cosines: torch.Tensor, dim: int) -> torch.Tensor:
    """The one kappa under which cosines [..., n] (each a mu.x on S^{dim-1}) are likeliest: [...].

    The Power Spherical log-likelihood of n cosines with one kappa is
    n log N(kappa, d)^-1 + kappa sum log(1 + c); its slope in kappa vanishes where
    E_kappa[log(1 + c)] equals the cosines' mean log(1 + c), so the maximum is
    kappa_from_moment of that mean (docs/method.md section 5, the `fit` readout).
    """
    if cosines.shape[-1] < 1:
        raise ValueError("maximum_likelihood_kappa needs at least one cosine per set")
    # log1p(-1) = -inf: keep the cosine just above -1, as the losses do.
    cosines = cosines.double().clamp(min=-1 + torch.finfo(torch.float32).eps, max=1.0)
    return kappa_from_moment(torch.log1p(cosines).mean(dim=-1), dim)


class _MomentToKappa(torch.autograd.Function):
    """kappa = kappa_from_moment(moment) forward; the backward passes kappa's gradient to the
    moment unchanged. The NLL's slope in kappa is log 2 + psi(alpha) - psi(alpha + beta) -
    log(1 + c) = moment - log(1 + c), so the head receives exactly the gradient of the
    least-squares fit 1/2 (moment - log(1 + c))^2: the natural gradient of the likelihood."""

    @staticmethod
    def forward(ctx, moment: torch.Tensor, dim: int) -> torch.Tensor:
        return kappa_from_moment(moment.detach(), dim)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class KappaHead(nn.Module):
    """features [B, in_dim] -> kappa [B] >= floor, clamped at max_value when one is given.

    param "softplus": kappa = softplus(raw) + floor. kappa's fit lies at (d-1) c / (1-c),
    1e3-1e5 late in training, so raw must grow to that size: the head gets there only by
    scaling its input, and weight decay holds it back.

    param "moment": raw is the expected log(1 + c) of the view, and kappa the concentration
    with that expectation (kappa_from_moment): the Power Spherical is an exponential family in
    kappa with sufficient statistic log(1 + c), so the likelihood's optimum for an input is
    the kappa whose expectation matches the observed mean log(1 + c). The head's gradient is
    that of a least-squares fit of log(1 + c) (_MomentToKappa), well scaled at every kappa
    (our choice; docs/method.md). The head reads its input scaled to unit length: an SGD step
    on a least-squares fit moves the output by lr * |x|^2 times the error, so with raw
    features (|x|^2 in the hundreds) a step overshoots towards log 2, where kappa is ~1e9; on
    unit inputs the step is lr times the error whatever the features' scale.
    """

    def __init__(
        self,
        in_dim: int,
        floor: float = DEFAULT_KAPPA_FLOOR,
        max_value: float | None = None,
        param: str = "softplus",
        sphere_dim: int = 2048,
    ) -> None:
        super().__init__()
        if floor < 0:
            raise ValueError(f"floor must be non-negative, got {floor}")
        if max_value is not None and max_value <= floor:
            raise ValueError(f"max_value must exceed floor ({floor}), got {max_value}")
        if param not in KAPPA_PARAMS:
            raise ValueError(f"param must be one of {KAPPA_PARAMS}, got {param!r}")
        if sphere_dim < 2:
            raise ValueError(f"sphere_dim must be at least 2, got {sphere_dim}")
        self.linear = nn.Linear(in_dim, 1)
        self.floor = floor
        self.max_value = max_value
        self.param = param
        self.sphere_dim = sphere_dim
        if param == "moment":
            # Every image starts at E[log(1 + c)] = 0 (kappa ~0.5, the uniform's c = 0): a
            # random init would put some near log 2, where kappa is ~1e9.
            nn.init.zeros_(self.linear.weight)
            nn.init.zeros_(self.linear.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # float32 whatever autocast says: late in training kappa is ~1e4, where bf16 steps by 64.
        with autocast_disabled(features.device):
            features = features.float()
            if self.param == "moment":
                features = F.normalize(features, dim=-1)
            weight, bias = self.linear.weight.float(), self.linear.bias.float()
            raw = F.linear(features, weight, bias).squeeze(-1)  # [B, 1] -> [B]
            if self.param == "moment":
                kappa = _MomentToKappa.apply(raw, self.sphere_dim) + self.floor
            else:
                kappa = F.softplus(raw) + self.floor
            if self.max_value is not None:
                # Collapse (every cosine -> 1) drives kappa to infinity; the clamp bounds it.
                kappa = kappa.clamp(max=self.max_value)
            return kappa
