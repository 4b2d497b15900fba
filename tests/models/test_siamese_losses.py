"""SimSiam and VI-SimSiam losses: values, gradients, stop-gradient, precision, extremes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from visim.models import simsiam_loss, uniform_log_density, vi_simsiam_loss
from visim.models.losses import negative_cosine, power_spherical_nll


def correlated(batch: int, dim: int, noise: float, seed: int) -> tuple[torch.Tensor, ...]:
    """p1, p2, z1, z2 [batch, dim] where each p is close to the other view's z."""
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    p1 = z2 + noise * torch.randn(batch, dim, generator=g)
    p2 = z1 + noise * torch.randn(batch, dim, generator=g)
    return p1, p2, z1, z2


def test_simsiam_loss_is_the_symmetric_negative_cosine():
    p1, p2, z1, z2 = correlated(6, 32, noise=1.0, seed=0)
    expected = -0.5 * (F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean())
    torch.testing.assert_close(simsiam_loss(p1, p2, z1, z2), expected)


def test_vi_loss_is_the_symmetric_power_spherical_nll():
    p1, p2, z1, z2 = correlated(6, 32, noise=1.0, seed=1)
    kappa1, kappa2 = torch.rand(6) * 50, torch.rand(6) * 50
    expected = 0.5 * (
        power_spherical_nll(p1, z2, kappa1).mean() + power_spherical_nll(p2, z1, kappa2).mean()
    )
    torch.testing.assert_close(vi_simsiam_loss(p1, p2, z1, z2, kappa1, kappa2), expected)


def test_vi_loss_at_kappa_zero_is_minus_the_uniform_log_density():
    p1, p2, z1, z2 = correlated(4, 2048, noise=1.0, seed=2)
    zero = torch.zeros(4)
    loss = vi_simsiam_loss(p1, p2, z1, z2, zero, zero)
    assert loss.item() == pytest.approx(-4898.383863, abs=2e-3)
    assert loss.item() + uniform_log_density(2048) == pytest.approx(0.0, abs=2e-3)


@pytest.mark.parametrize(("d", "kappa", "c"), [(3, 1.0, 0.5), (128, 50.0, -0.6), (2048, 1e4, 0.9)])
def test_gradient_with_respect_to_the_cosine_is_minus_kappa_over_one_plus_c(d, kappa, c):
    cosine = torch.tensor(c, dtype=torch.float64, requires_grad=True)
    z = torch.zeros(1, d, dtype=torch.float64)
    z[0, 0] = 1
    # p = (c, sqrt(1 - c^2), 0, ...): mu.t = c exactly, as a differentiable function of c.
    p = torch.cat([cosine.view(1, 1), (1 - cosine**2).sqrt().view(1, 1), z[:, 2:]], dim=1)
    loss = power_spherical_nll(p, z, torch.tensor([kappa], dtype=torch.float64))
    (grad,) = torch.autograd.grad(loss.sum(), cosine)
    assert grad.item() == pytest.approx(-kappa / (1 + c), rel=1e-9)


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
def test_no_gradient_reaches_z_through_the_target(method):
    p1, p2, z1, z2 = (t.requires_grad_() for t in correlated(4, 16, noise=0.5, seed=3))
    kappa = torch.full((4,), 5.0)
    loss = (
        simsiam_loss(p1, p2, z1, z2)
        if method == "simsiam"
        else vi_simsiam_loss(p1, p2, z1, z2, kappa, kappa)
    )
    loss.backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad.abs().sum() > 0 and p2.grad.abs().sum() > 0


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
def test_gradient_to_z_flows_only_through_the_prediction_branch(method):
    # As in the model, p is a function of z (here p_i = W z_i): z gets a gradient through p
    # only, so it must equal the gradient computed with the targets as constants.
    _, _, z1, z2 = (t.requires_grad_() for t in correlated(4, 16, noise=0.5, seed=4))
    weight = torch.eye(16) + 0.3 * torch.randn(16, 16, generator=torch.Generator().manual_seed(5))
    kappa = torch.full((4,), 5.0)

    def loss_of(p1, p2, t1, t2):
        if method == "simsiam":
            return simsiam_loss(p1, p2, t1, t2)
        return vi_simsiam_loss(p1, p2, t1, t2, kappa, kappa)

    loss_of(z1 @ weight, z2 @ weight, z1, z2).backward()
    through_targets = z1.grad.clone(), z2.grad.clone()
    z1.grad = z2.grad = None
    loss_of(z1 @ weight, z2 @ weight, z1.detach().clone(), z2.detach().clone()).backward()
    torch.testing.assert_close(through_targets, (z1.grad, z2.grad))


@pytest.mark.parametrize("kappa", [0.5, 10.0, 1e3])
def test_fixed_kappa_orders_pairs_exactly_like_simsiam(kappa):
    g = torch.Generator().manual_seed(6)
    z = torch.randn(500, 64, generator=g, dtype=torch.float64)
    p = z + 2.0 * torch.randn(500, 64, generator=g, dtype=torch.float64)
    simsiam_rank = negative_cosine(p, z).argsort()
    vi_rank = power_spherical_nll(p, z, torch.full((500,), kappa, dtype=torch.float64)).argsort()
    assert torch.equal(simsiam_rank, vi_rank)


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
def test_bf16_autocast_matches_float32(method):
    # Inputs as a bf16 network would hand them over; the loss itself must stay float32.
    p1, p2, z1, z2 = correlated(8, 2048, noise=0.7, seed=7)
    kappa1, kappa2 = torch.linspace(10, 3e4, 8), torch.linspace(5e3, 1, 8)

    def loss_of(*tensors):
        if method == "simsiam":
            return simsiam_loss(*tensors)
        return vi_simsiam_loss(*tensors, kappa1, kappa2)

    expected = loss_of(p1, p2, z1, z2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = loss_of(*(t.bfloat16() for t in (p1, p2, z1, z2)))
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), rel=1e-3)


@pytest.mark.parametrize("kappa", [0.0, 1.0, 1e6])
@pytest.mark.parametrize("cosine", [-1.0, 1.0])
def test_extremes_give_finite_values_and_gradients(kappa, cosine):
    z = F.normalize(torch.randn(3, 2048), dim=-1)
    p = (cosine * z).requires_grad_()
    kappa_param = torch.full((3,), kappa, requires_grad=True)
    vi = vi_simsiam_loss(p, p, z, z, kappa_param, kappa_param)
    simsiam = simsiam_loss(p, p, z, z)
    (vi + simsiam).backward()
    assert math.isfinite(vi.item()) and math.isfinite(simsiam.item())
    assert torch.isfinite(p.grad).all() and torch.isfinite(kappa_param.grad).all()


def test_column_kappa_is_rejected_with_its_name():
    p1, p2, z1, z2 = correlated(4, 8, noise=1.0, seed=8)
    with pytest.raises(ValueError, match=r"kappa2 must have shape \[B\]"):
        vi_simsiam_loss(p1, p2, z1, z2, torch.ones(4), torch.ones(4, 1))


def test_mismatched_prediction_and_target_are_rejected():
    p1, p2, z1, z2 = correlated(4, 8, noise=1.0, seed=9)
    with pytest.raises(ValueError, match="p1 and z2"):
        simsiam_loss(p1, p2, z1, z2[:, :4])
