"""The unit sphere S^{d-1} in R^d: its support constraint and its surface area."""

from __future__ import annotations

import math

import torch
from torch.distributions import constraints

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
