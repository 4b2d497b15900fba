"""The collapse monitor: spread of normalised z and kappa statistics."""

from __future__ import annotations

import math

import pytest
import torch

from visim.models import kappa_statistics, representation_std


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
    assert stats == {"mean": 51.0, "min": 1.0, "max": 100.0, "at_max_fraction": 0.5}
    assert "at_max_fraction" not in kappa_statistics(torch.tensor([1.0, 2.0]))
