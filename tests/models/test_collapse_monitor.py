"""The collapse monitor: spread of normalised z and kappa statistics."""

from __future__ import annotations

import math

import pytest
import torch

from visim.models import kappa_statistics, representation_std
from visim.models.collapse_monitor import alignment_gradient_scale


def test_spread_outputs_have_std_near_one_over_sqrt_dim():
    torch.manual_seed(0)
    assert representation_std(torch.randn(4096, 256)) == pytest.approx(1 / math.sqrt(256), rel=0.05)


def test_collapsed_outputs_have_zero_std():
    z = torch.randn(1, 256).expand(64, 256) * torch.rand(64, 1)  # one direction, any length
    assert representation_std(z) == pytest.approx(0.0, abs=1e-6)


def test_representation_std_needs_a_batch():
    with pytest.raises(ValueError, match="B >= 2"):
        representation_std(torch.randn(1, 8))


def test_kappa_statistics_report_the_fraction_at_the_clamp():
    stats = kappa_statistics(torch.tensor([1.0, 3.0, 100.0, 100.0]), kappa_max=100.0)
    assert {k: stats[k] for k in ("mean", "min", "max", "median", "at_max_fraction")} == {
        "mean": 51.0,
        "min": 1.0,
        "max": 100.0,
        "median": 51.5,
        "at_max_fraction": 0.5,
    }
    assert "at_max_fraction" not in kappa_statistics(torch.tensor([1.0, 2.0]))


def test_kappa_statistics_report_the_spread():
    kappa = torch.arange(1.0, 101.0)  # 1, 2, ..., 100
    stats = kappa_statistics(kappa)
    assert stats["std"] == pytest.approx(kappa.std().item())
    # torch.quantile interpolates linearly between order statistics.
    assert stats["q05"] == pytest.approx(5.95)
    assert stats["q95"] == pytest.approx(95.05)
    assert kappa_statistics(torch.full((8,), 7.0))["std"] == 0.0


@pytest.mark.parametrize("form", ["nll", "relative", "unweighted", "mean-kappa", "cosine"])
def test_alignment_gradient_scale_is_the_mean_slope_of_the_loss_in_the_cosine(form):
    cosine = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    kappa = torch.tensor([10.0, 100.0, 1000.0], dtype=torch.float64)
    expected = {
        "nll": kappa / (1 + cosine),  # dl/dc = -kappa / (1 + c)
        "relative": kappa / kappa.mean() / (1 + cosine),
        "unweighted": 1 / (1 + cosine),
        "mean-kappa": kappa.mean() / (1 + cosine),
        "cosine": kappa / kappa.mean(),  # SimSiam's slope, 1, on average over the batch
    }[form]
    scale = alignment_gradient_scale(cosine, kappa, dim=64, form=form)
    assert scale == pytest.approx(expected.mean().item())


def test_simsiams_alignment_gradient_scale_is_one():
    assert alignment_gradient_scale(torch.rand(4), None, dim=64, form="nll") == 1.0
