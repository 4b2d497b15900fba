"""The uniform distribution on the unit sphere S^{d-1}, the reference for a Power Spherical."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Distribution

from visim.models.full_precision import at_least_float32
from visim.models.unit_sphere import log_sphere_area, unit_sphere


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

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> torch.Tensor:
        # An isotropic Gaussian, normalised, is uniform on the sphere.
        shape = torch.Size(sample_shape) + self.event_shape
        gaussian = torch.randn(shape, device=self._device, dtype=self._dtype)
        return F.normalize(gaussian, dim=-1)
