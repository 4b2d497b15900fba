"""The Power Spherical distribution on S^{d-1} (De Cao & Aziz 2020; docs/method.md section 3),
the uniform distribution it is measured against, and the numerics both rest on.

density p(x) = (1 + mu.x)^kappa / N(kappa, d), with alpha = (d-1)/2 + kappa, beta = (d-1)/2 and
log N = (alpha+beta) log 2 + beta log pi + lgamma(alpha) - lgamma(alpha+beta).

Numerically delicate code runs in float32 or float64, whatever autocast says outside: Power
Spherical log-densities sit near 5000 at d = 2048 with a per-sample spread of a few units, and
bf16 (8 bits of mantissa) cannot represent that difference (docs/method.md section 3).
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch.distributions import Beta, Distribution, constraints, register_kl

# Loose enough for a unit vector rounded to bf16 (its norm moves by up to 2^-8 ~ 3.9e-3),
# tight enough to catch a vector nobody normalised.
UNIT_NORM_TOLERANCE = 5e-3


class _UnitSphere(constraints.Constraint):
    """Vectors along the last dimension with Euclidean norm 1 (within UNIT_NORM_TOLERANCE)."""

    event_dim = 1

    def check(self, value: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(value.float(), dim=-1)
        return (norm - 1).abs() <= UNIT_NORM_TOLERANCE


unit_sphere = _UnitSphere()


def log_sphere_area(dim: int) -> float:
    """log of the surface area of S^{dim-1}: log(2 pi^(dim/2) / Gamma(dim/2)) (docs/method.md 3)."""
    if dim < 2:
        raise ValueError(f"dim must be at least 2 (S^{{dim-1}} in R^dim), got {dim}")
    return math.log(2.0) + 0.5 * dim * math.log(math.pi) - math.lgamma(0.5 * dim)


def autocast_disabled(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which autocast is off for `device` (a no-op where autocast does not exist)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def at_least_float32(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cast every tensor to one floating dtype: float64 if any is float64, else float32."""
    wide = any(t.dtype == torch.float64 for t in tensors)
    dtype = torch.float64 if wide else torch.float32
    return tuple(t.to(dtype) for t in tensors)


class HypersphericalUniform(Distribution):
    """Uniform on S^{dim-1} in R^dim; its density is 1 / area everywhere on the sphere."""

    arg_constraints: dict = {}
    support = unit_sphere
    has_rsample = False

    def __init__(
        self,
        dim: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        validate_args: bool | None = None,
    ) -> None:
        self.dim = dim
        self._log_area = log_sphere_area(dim)  # raises for dim < 2
        self._device = torch.device(device) if device is not None else torch.device("cpu")
        self._dtype = dtype
        super().__init__(torch.Size(), torch.Size([dim]), validate_args=validate_args)

    def __repr__(self) -> str:
        return f"HypersphericalUniform(dim={self.dim})"

    @property
    def mean(self) -> torch.Tensor:
        return torch.zeros(self.dim, device=self._device, dtype=self._dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        (value,) = at_least_float32(value)
        # [..., dim] -> [...]: the same value at every point of the sphere.
        return torch.full_like(value[..., 0], -self._log_area)

    def entropy(self) -> torch.Tensor:
        return torch.tensor(self._log_area, device=self._device, dtype=self._dtype)

    def sample(
        self, sample_shape: torch.Size | list[int] | tuple[int, ...] = torch.Size()
    ) -> torch.Tensor:
        # An isotropic Gaussian, normalised, is uniform on the sphere.
        shape = torch.Size(sample_shape) + self.event_shape
        gaussian = torch.randn(shape, device=self._device, dtype=self._dtype)
        return F.normalize(gaussian, dim=-1)


def log_normalizer(concentration: torch.Tensor, dim: int) -> torch.Tensor:
    """log N(kappa, d), elementwise over `concentration` [...]; at kappa = 0 the log area of
    the sphere. Computed in the dtype it is given: callers pass float32 or float64."""
    beta = 0.5 * (dim - 1)
    alpha = beta + concentration
    return (
        (alpha + beta) * math.log(2.0)
        + beta * math.log(math.pi)
        + torch.lgamma(alpha)
        - torch.lgamma(alpha + beta)
    )


class PowerSpherical(Distribution):
    """Power Spherical distribution with unit `loc` [..., d] and `concentration` [...] >= 0.

    `concentration` must have exactly the batch shape `loc.shape[:-1]` (a 0-dim value is
    broadcast to it): a [B, 1] concentration beside a [B, d] loc raises instead of silently
    broadcasting log_prob to [B, B]. Everything is computed in float32 (float64 if an input is
    float64) with autocast disabled. Value checks (unit norm, concentration >= 0) follow torch's
    `validate_args` convention; shape checks always run.
    """

    arg_constraints = {"loc": unit_sphere, "concentration": constraints.nonnegative}
    support = unit_sphere
    has_rsample = True

    def __init__(
        self,
        loc: torch.Tensor,
        concentration: torch.Tensor | float,
        validate_args: bool | None = None,
    ) -> None:
        if not isinstance(loc, torch.Tensor) or loc.dim() < 1 or loc.shape[-1] < 2:
            raise ValueError(
                "loc must be a tensor [..., d] of unit vectors with d >= 2, got "
                f"{tuple(loc.shape) if isinstance(loc, torch.Tensor) else type(loc).__name__}"
            )
        batch_shape = loc.shape[:-1]
        concentration = torch.as_tensor(concentration, device=loc.device)
        if concentration.dim() == 0:
            concentration = concentration.expand(batch_shape)
        elif concentration.shape != batch_shape:
            raise ValueError(
                f"concentration must have the batch shape of loc, loc.shape[:-1] = "
                f"{tuple(batch_shape)}, got {tuple(concentration.shape)}; a [B, 1] concentration "
                "would broadcast log_prob to [B, B]: squeeze it to [B]"
            )
        self.loc, self.concentration = at_least_float32(loc, concentration)
        super().__init__(batch_shape, loc.shape[-1:], validate_args=validate_args)

    @property
    def _dim(self) -> int:
        return self.loc.shape[-1]

    def _log_normalizer(self) -> torch.Tensor:
        return log_normalizer(self.concentration, self._dim)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        with autocast_disabled(self.loc.device):
            value = value.to(self.loc.dtype)
            # [..., d] -> [...]; log1p(-1) = -inf, so keep the cosine just above -1.
            eps = torch.finfo(self.loc.dtype).eps
            cosine = (self.loc * value).sum(-1).clamp(min=-1 + eps)
            return self.concentration * torch.log1p(cosine) - self._log_normalizer()

    def entropy(self) -> torch.Tensor:
        with autocast_disabled(self.loc.device):
            beta = 0.5 * (self._dim - 1)
            alpha = beta + self.concentration
            expected_log_1p_cosine = (
                math.log(2.0) + torch.digamma(alpha) - torch.digamma(alpha + beta)
            )
            return self._log_normalizer() - self.concentration * expected_log_1p_cosine

    @property
    def mean(self) -> torch.Tensor:
        # E[mu.x] = alpha / (alpha + beta) * 2 - 1 = kappa / (d - 1 + kappa); [...] -> [..., d].
        scale = self.concentration / (self._dim - 1 + self.concentration)
        return self.loc * scale.unsqueeze(-1)

    def rsample(
        self, sample_shape: torch.Size | list[int] | tuple[int, ...] = torch.Size()
    ) -> torch.Tensor:
        """Reparameterised sample [*sample_shape, *batch, d]; no rejection step."""
        sample_shape = torch.Size(sample_shape)
        dtype, device = self.loc.dtype, self.loc.device
        with autocast_disabled(device):
            beta = torch.full_like(self.concentration, 0.5 * (self._dim - 1))
            # The marginal of t = mu.x: (1 + t) / 2 ~ Beta(alpha, beta); torch's Beta.rsample
            # carries gradients to alpha, hence to the concentration.
            fraction = Beta(beta + self.concentration, beta, validate_args=False).rsample(
                sample_shape
            )
            t = (2 * fraction - 1).unsqueeze(-1)  # [*sample, *batch, 1]
            tangent_shape = sample_shape + self.batch_shape + (self._dim - 1,)
            v = F.normalize(torch.randn(tangent_shape, dtype=dtype, device=device), dim=-1)
            # sqrt(1 - t^2) as (1 - t)(1 + t) for accuracy near |t| = 1; the floor keeps the
            # gradient of sqrt finite when t rounds to exactly +-1.
            radius = ((1 - t) * (1 + t)).clamp(min=torch.finfo(dtype).eps).sqrt()
            y = torch.cat([t, radius * v], dim=-1)  # [*sample, *batch, d], concentrated on e1
            return self._reflect_e1_to_loc(y)

    def _reflect_e1_to_loc(self, y: torch.Tensor) -> torch.Tensor:
        # Householder map H = I - 2 u u^T with u = (e1 - mu) / |e1 - mu|, so H e1 = mu and
        # mu.(H y) = e1.y. When mu = e1, u normalises to 0 and H is the identity, as it should be.
        e1 = torch.zeros_like(self.loc)
        e1[..., 0] = 1
        u = F.normalize(e1 - self.loc, dim=-1)
        return y - 2 * (y * u).sum(-1, keepdim=True) * u


@register_kl(PowerSpherical, HypersphericalUniform)
def _kl_power_spherical_uniform(p: PowerSpherical, q: HypersphericalUniform) -> torch.Tensor:
    """KL(p || uniform) = -H(p) + log area(S^{d-1}) (docs/method.md section 3)."""
    if p.event_shape != q.event_shape:
        raise ValueError(
            f"both distributions must live on the same sphere: PowerSpherical in "
            f"R^{p.event_shape[0]} against HypersphericalUniform(dim={q.dim})"
        )
    return log_sphere_area(q.dim) - p.entropy()
