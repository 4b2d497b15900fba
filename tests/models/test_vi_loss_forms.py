"""VI-SimSiam's loss forms: one value (the NLL), different gradients to encoder and kappa."""

from __future__ import annotations

import pytest
import torch

from visim.models import vi_simsiam_loss
from visim.models.losses import VI_LOSSES, power_spherical_nll, vi_sample_losses
from visim.models.power_spherical import log_normalizer

DIM = 64


def cosines_and_kappas() -> tuple[torch.Tensor, torch.Tensor]:
    cosine = torch.tensor([-0.3, 0.2, 0.6, 0.95], dtype=torch.float64, requires_grad=True)
    kappa = torch.tensor([2.0, 40.0, 300.0, 5e3], dtype=torch.float64, requires_grad=True)
    return cosine, kappa


@pytest.mark.parametrize("form", VI_LOSSES)
def test_every_form_has_the_value_of_the_negative_log_likelihood(form):
    cosine, kappa = cosines_and_kappas()
    nll = log_normalizer(kappa, DIM) - kappa * torch.log1p(cosine)
    torch.testing.assert_close(vi_sample_losses(cosine, kappa, DIM, form), nll)


@pytest.mark.parametrize("form", VI_LOSSES)
def test_the_kappa_gradient_is_the_likelihoods_in_every_form(form):
    cosine, kappa = cosines_and_kappas()
    vi_sample_losses(cosine, kappa, DIM, form).sum().backward()
    beta = (DIM - 1) / 2
    alpha = beta + kappa.detach()
    expected = (
        torch.log(torch.tensor(2.0, dtype=torch.float64))
        + torch.digamma(alpha)
        - torch.digamma(alpha + beta)
        - torch.log1p(cosine.detach())
    )
    torch.testing.assert_close(kappa.grad, expected)


@pytest.mark.parametrize(
    ("form", "weight"),
    [
        ("nll", lambda k: k),  # dl/dc = -kappa / (1 + c)
        ("relative", lambda k: k / k.mean()),
        ("unweighted", lambda k: torch.ones_like(k)),
        ("mean-kappa", lambda k: k.mean().expand_as(k)),
    ],
)
def test_the_encoders_gradient_through_the_cosine_is_the_forms_weight_over_one_plus_c(form, weight):
    cosine, kappa = cosines_and_kappas()
    vi_sample_losses(cosine, kappa, DIM, form).sum().backward()
    expected = -weight(kappa.detach()) / (1 + cosine.detach())
    torch.testing.assert_close(cosine.grad, expected)


def test_the_cosine_forms_encoder_gradient_is_simsiams_weighted_by_relative_kappa():
    # d(-c)/dc = -1 is SimSiam's step on the cosine, whatever the cosine already is.
    cosine, kappa = cosines_and_kappas()
    vi_sample_losses(cosine, kappa, DIM, "cosine").sum().backward()
    held = kappa.detach()
    torch.testing.assert_close(cosine.grad, -held / held.mean())


@pytest.mark.parametrize("form", ["relative", "cosine"])
def test_relative_weights_do_not_depend_on_the_scale_of_kappa(form):
    # SimSiam-scale steps whatever kappa's magnitude: only the ratios between images count.
    gradients = []
    for scale in (1.0, 1e3):
        cosine, kappa = cosines_and_kappas()
        vi_sample_losses(cosine, (kappa * scale).detach(), DIM, form).sum().backward()
        gradients.append(cosine.grad)
    torch.testing.assert_close(gradients[0], gradients[1])


def test_nll_form_of_the_symmetric_loss_is_the_power_spherical_nll():
    g = torch.Generator().manual_seed(0)
    p1, p2, z1, z2 = (torch.randn(5, DIM, generator=g) for _ in range(4))
    kappa1, kappa2 = torch.rand(5, generator=g) * 100, torch.rand(5, generator=g) * 100
    expected = 0.5 * (
        power_spherical_nll(p1, z2, kappa1).mean() + power_spherical_nll(p2, z1, kappa2).mean()
    )
    for form in VI_LOSSES:
        got = vi_simsiam_loss(p1, p2, z1, z2, kappa1, kappa2, form=form)
        torch.testing.assert_close(got, expected, msg=f"form {form}")


def test_unknown_form_is_rejected_with_the_choices():
    cosine, kappa = cosines_and_kappas()
    with pytest.raises(ValueError, match="nll"):
        vi_sample_losses(cosine, kappa, DIM, "elbo")
