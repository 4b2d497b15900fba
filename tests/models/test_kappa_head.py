"""The kappa head's parameterisations, and reading its input detached."""

from __future__ import annotations

import math

import pytest
import torch

from visim.models import ModelConfig, build_model
from visim.models.kappa_head import (
    KappaHead,
    kappa_from_moment,
    maximum_likelihood_kappa,
)
from visim.models.losses import vi_sample_losses
from visim.models.power_spherical import PowerSpherical

DIM = 128


def expected_log_one_plus_cosine(kappa: torch.Tensor, dim: int) -> torch.Tensor:
    beta = (dim - 1) / 2
    alpha = beta + kappa
    return math.log(2.0) + torch.digamma(alpha) - torch.digamma(alpha + beta)


def test_kappa_from_moment_inverts_the_expected_sufficient_statistic():
    kappa = torch.tensor([0.5, 10.0, 300.0, 1e4, 1e6], dtype=torch.float64)
    moment = expected_log_one_plus_cosine(kappa, DIM)
    torch.testing.assert_close(kappa_from_moment(moment, DIM), kappa, rtol=1e-6, atol=1e-6)


def test_the_moment_is_what_samples_of_the_distribution_average():
    # The formula the inversion relies on, checked against the distribution itself.
    torch.manual_seed(0)
    loc = torch.nn.functional.normalize(torch.randn(1, DIM, dtype=torch.float64), dim=-1)
    kappa = torch.tensor([200.0], dtype=torch.float64)
    samples = PowerSpherical(loc, kappa).rsample((20000,))  # [20000, 1, DIM]
    observed = torch.log1p((samples * loc).sum(-1)).mean()
    assert observed.item() == pytest.approx(
        expected_log_one_plus_cosine(kappa, DIM).item(), abs=2e-3
    )


def test_the_maximum_likelihood_kappa_recovers_the_concentration_samples_came_from():
    torch.manual_seed(1)
    loc = torch.nn.functional.normalize(torch.randn(2, DIM, dtype=torch.float64), dim=-1)
    kappa = torch.tensor([30.0, 800.0], dtype=torch.float64)
    samples = PowerSpherical(loc, kappa).rsample((5000,))  # [5000, 2, DIM]
    cosines = (samples * loc).sum(-1).T  # [2, 5000]: one set of cosines per concentration
    fitted = maximum_likelihood_kappa(cosines, DIM)
    torch.testing.assert_close(fitted, kappa, rtol=0.05, atol=0.0)


def test_the_maximum_likelihood_kappa_is_where_the_likelihood_peaks():
    cosines = torch.tensor([[0.2, 0.5, 0.35, 0.6]], dtype=torch.float64)
    best = maximum_likelihood_kappa(cosines, DIM)
    loc = torch.zeros(1, DIM, dtype=torch.float64)
    loc[0, 0] = 1.0

    def log_likelihood(kappa: torch.Tensor) -> torch.Tensor:
        # Points on the sphere at the given cosines to loc: [c, sqrt(1 - c^2), 0, ...].
        points = torch.zeros(cosines.shape[1], 1, DIM, dtype=torch.float64)
        points[:, 0, 0] = cosines[0]
        points[:, 0, 1] = (1 - cosines[0] ** 2).sqrt()
        return PowerSpherical(loc, kappa).log_prob(points).sum()

    for nearby in (best * 0.9, best * 1.1):
        assert log_likelihood(best) > log_likelihood(nearby)


def test_moments_at_or_below_the_uniforms_give_kappa_zero_and_near_log_two_a_finite_kappa():
    kappa = kappa_from_moment(torch.tensor([-0.5, 0.0, math.log(2.0), 5.0]), DIM)
    assert kappa[0] == 0 and kappa[1] < 1
    assert torch.isfinite(kappa).all() and kappa[2] > 1e6 and kappa[3] == kappa[2]


def test_the_moment_head_gets_the_least_squares_gradient_of_log_one_plus_c():
    # floor 0: a floor shifts kappa, so the likelihood's slope is taken a little off the moment.
    head = KappaHead(4, floor=0.0, param="moment", sphere_dim=DIM)
    with torch.no_grad():
        head.linear.bias.fill_(0.3)  # every image's predicted E[log(1 + c)] is 0.3
    cosine = torch.tensor([0.1, 0.5, 0.8])
    kappa = head(torch.zeros(3, 4))
    vi_sample_losses(cosine, kappa, DIM, "relative").sum().backward()
    # d/db sum 1/2 (0.3 - log(1 + c))^2 = sum (0.3 - log(1 + c)).
    expected = (0.3 - torch.log1p(cosine)).sum()
    assert head.linear.bias.grad.item() == pytest.approx(expected.item(), rel=1e-4)


def test_a_moment_head_step_moves_kappa_alike_whatever_the_scale_of_its_input():
    # Raw predictor activations have |x|^2 in the hundreds: a least-squares step on them
    # overshot to kappa ~1e7 in a few steps. The head reads unit-length input instead.
    torch.manual_seed(0)
    features, cosine = torch.randn(16, 32), torch.rand(16) * 0.5
    moved = []
    for scale in (1.0, 100.0):
        head = KappaHead(32, param="moment", sphere_dim=DIM)
        optimizer = torch.optim.SGD(head.parameters(), lr=0.5)
        vi_sample_losses(cosine, head(features * scale), DIM, "relative").mean().backward()
        optimizer.step()
        moved.append(head(features * scale).detach())
    torch.testing.assert_close(moved[0], moved[1])
    # One step towards the batch's mean log(1 + c) stays on the scale of the fit.
    assert moved[0].max() < 10 * kappa_from_moment(torch.log1p(cosine).mean(), DIM)


def test_the_moment_head_starts_every_image_at_the_uniforms_concentration():
    head = KappaHead(16, param="moment", sphere_dim=DIM)
    kappa = head(torch.randn(8, 16))
    assert torch.allclose(kappa, kappa[0]) and kappa[0] < 1


@pytest.mark.parametrize("param", ["softplus", "moment"])
def test_kappa_has_the_batch_shape_and_respects_floor_and_clamp(param):
    head = KappaHead(8, floor=0.5, max_value=50.0, param=param, sphere_dim=DIM)
    with torch.no_grad():
        head.linear.weight.normal_()
    kappa = head(torch.randn(32, 8) * 10)
    assert kappa.shape == (32,)
    assert (kappa >= 0.5).all() and (kappa <= 50.0).all()


def test_unknown_parameterisation_is_rejected():
    with pytest.raises(ValueError, match="softplus"):
        KappaHead(8, param="exp")


@pytest.mark.parametrize("detach", [False, True])
def test_a_detached_kappa_head_sends_no_gradient_to_the_encoder(detach):
    config = ModelConfig(
        method="vi-simsiam", cifar_stem=True, proj_dim=32, pred_hidden_dim=8, kappa_detach=detach
    )
    model = build_model(config)
    with torch.no_grad():  # as after training: a zero-initialised head passes no gradient on
        model.kappa_head.linear.weight.normal_()
    out = model(torch.randn(4, 3, 16, 16), torch.randn(4, 3, 16, 16))
    (out.kappa1.sum() + out.kappa2.sum()).backward()  # a loss of kappa alone
    reached = [p.grad is not None and p.grad.abs().sum() > 0 for p in model.backbone.parameters()]
    assert any(reached) is not detach
    assert model.kappa_head.linear.weight.grad.abs().sum() > 0
