"""Reparameterised sampling: on the sphere, the right marginal, gradients to both parameters."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from visim.models import HypersphericalUniform, PowerSpherical

SAMPLES = 20000


def beta_marginal_moments(d: int, kappa: float) -> tuple[float, float]:
    """Mean and std of t = mu.x, where (1 + t) / 2 ~ Beta((d-1)/2 + kappa, (d-1)/2)."""
    beta = (d - 1) / 2
    alpha = beta + kappa
    total = alpha + beta
    variance = 4 * alpha * beta / (total * total * (total + 1))
    return kappa / (d - 1 + kappa), math.sqrt(variance)


def test_rsample_shape_and_unit_norm():
    torch.manual_seed(0)
    loc = F.normalize(torch.randn(3, 7), dim=-1)
    x = PowerSpherical(loc, torch.tensor([0.0, 2.0, 5e4])).rsample((5,))
    assert x.shape == (5, 3, 7)
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(5, 3), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("d", "kappa"), [(2, 3.0), (3, 0.0), (3, 1.0), (3, 10.0), (16, 5.0), (128, 100.0), (1000, 1e4)]
)
def test_monte_carlo_mean_cosine_matches_closed_form(d, kappa):
    torch.manual_seed(d)
    loc = F.normalize(torch.randn(d, dtype=torch.float64), dim=0)
    x = PowerSpherical(loc, torch.tensor(kappa, dtype=torch.float64)).rsample((SAMPLES,))
    expected, std = beta_marginal_moments(d, kappa)
    assert (x @ loc).mean().item() == pytest.approx(expected, abs=5 * std / math.sqrt(SAMPLES))


def test_monte_carlo_mean_vector_matches_mean_property():
    torch.manual_seed(1)
    loc = F.normalize(torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64), dim=0)
    dist = PowerSpherical(loc, torch.tensor(4.0, dtype=torch.float64))
    sample_mean = dist.rsample((SAMPLES,)).mean(0)
    # Each coordinate lies in [-1, 1]: its mean over SAMPLES draws is within 5/sqrt(N).
    assert (sample_mean - dist.mean).abs().max().item() < 5 / math.sqrt(SAMPLES)


def test_loc_equal_to_e1_samples_around_e1():
    torch.manual_seed(2)
    loc = torch.tensor([1.0, 0.0, 0.0, 0.0])
    x = PowerSpherical(loc, torch.tensor(50.0)).rsample((SAMPLES,))
    assert torch.isfinite(x).all()
    expected, std = beta_marginal_moments(4, 50.0)
    assert x[:, 0].mean().item() == pytest.approx(expected, abs=5 * std / math.sqrt(SAMPLES))


def test_gradients_reach_loc_and_concentration():
    torch.manual_seed(3)
    loc = F.normalize(torch.randn(4, 16), dim=-1).requires_grad_()
    concentration = torch.tensor([0.5, 3.0, 40.0, 1e3], requires_grad=True)
    x = PowerSpherical(loc, concentration).rsample((8,))
    (x * torch.randn(16)).sum().backward()
    assert torch.isfinite(loc.grad).all() and loc.grad.abs().sum() > 0
    assert torch.isfinite(concentration.grad).all() and (concentration.grad != 0).all()


def test_pathwise_gradient_of_mean_cosine_matches_closed_form():
    # d/dkappa E[mu.x] = d/dkappa kappa / (d - 1 + kappa) = (d - 1) / (d - 1 + kappa)^2.
    torch.manual_seed(4)
    d, kappa = 3, 2.0
    loc = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    concentration = torch.tensor(kappa, dtype=torch.float64, requires_grad=True)
    x = PowerSpherical(loc, concentration).rsample((SAMPLES,))
    (x @ loc).mean().backward()
    assert concentration.grad.item() == pytest.approx((d - 1) / (d - 1 + kappa) ** 2, rel=0.05)


def test_sample_carries_no_gradient():
    loc = F.normalize(torch.randn(2, 5), dim=-1).requires_grad_()
    assert not PowerSpherical(loc, torch.tensor([1.0, 2.0])).sample().requires_grad


def test_uniform_samples_are_unit_and_centred():
    torch.manual_seed(5)
    x = HypersphericalUniform(3).sample((SAMPLES,))
    assert x.shape == (SAMPLES, 3)
    torch.testing.assert_close(x.norm(dim=-1), torch.ones(SAMPLES), atol=1e-5, rtol=0)
    assert x.mean(0).abs().max().item() < 5 / math.sqrt(SAMPLES)
