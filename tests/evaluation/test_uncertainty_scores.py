"""Every uncertainty score (uncertainty_scores.py) on small arrays, signs included."""

import math

import numpy as np
import pytest
import torch

from visim.evaluation.linear_probe import LinearProbe
from visim.evaluation.uncertainty_scores import (
    KNN_FAR_K,
    KNN_MEAN_K,
    FeatureGaussian,
    encoder_scorer,
    inverse_norm,
    kappa_uncertainty,
    knn_density,
    probe_entropy,
)


def unit(degrees: list[float]) -> torch.Tensor:
    angles = np.deg2rad(degrees)
    return torch.tensor(np.stack([np.cos(angles), np.sin(angles)], axis=1), dtype=torch.float32)


def test_knn_density_by_hand():
    # 60 reference points, all at angle 0 except ten at 90 degrees.
    reference = unit([0.0] * 50 + [90.0] * 10)
    query = unit([0.0, 90.0])
    density = knn_density(reference, query)
    # Query at 0: its 10 nearest are all at cosine 1 -> mean cosine 1, uncertainty -1; its
    # 50th nearest is also at cosine 1 -> distance 0.
    # Query at 90: 10 nearest at cosine 1 (the ten at 90); the 50th is at cosine 0 -> sqrt(2).
    np.testing.assert_allclose(density["knn_mean_cosine"], [-1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(density["knn_distance_50"], [0.0, math.sqrt(2.0)], atol=1e-3)
    assert KNN_MEAN_K == 10 and KNN_FAR_K == 50


def test_knn_density_is_higher_for_an_image_unlike_the_reference():
    reference = unit(list(np.linspace(-20.0, 20.0, 80)))
    density = knn_density(reference, unit([0.0, 120.0]))
    for name in ("knn_mean_cosine", "knn_distance_50"):
        assert density[name][1] > density[name][0], name


def test_knn_density_leave_one_out_skips_the_image_itself():
    reference = unit([0.0, 60.0, 61.0])
    kept = knn_density(reference, reference)
    left_out = knn_density(reference, reference, leave_one_out=True)
    # With itself among its neighbours image 0's nearest cosine is 1; without, cos 60 = 0.5
    # then cos 61 (its only two other images: the mean of both).
    expected = -(math.cos(math.radians(60)) + math.cos(math.radians(61))) / 2
    assert left_out["knn_mean_cosine"][0] == pytest.approx(expected, abs=1e-6)
    assert kept["knn_mean_cosine"][0] < left_out["knn_mean_cosine"][0]


def test_inverse_norm_and_kappa_point_to_uncertainty():
    np.testing.assert_allclose(inverse_norm(torch.tensor([[3.0, 4.0], [0.3, 0.4]])), [0.2, 2.0])
    # Low kappa = high uncertainty.
    uncertainty = kappa_uncertainty(np.array([10.0, 1000.0]))
    np.testing.assert_allclose(uncertainty, [-math.log(10.0), -math.log(1000.0)])
    assert uncertainty[0] > uncertainty[1]


def probe_from(weight: list[list[float]]) -> LinearProbe:
    w = torch.tensor(weight)
    return LinearProbe(
        mean=torch.zeros(w.shape[1]), std=torch.ones(w.shape[1]), weight=w, bias=torch.zeros(len(w))
    )


def test_probe_entropy_by_hand():
    probe = probe_from([[1.0, 0.0], [0.0, 1.0]])
    features = torch.tensor([[0.0, 0.0], [100.0, 0.0]])  # even odds, then a sure answer
    entropy = probe_entropy(probe, features)
    assert entropy[0] == pytest.approx(math.log(2.0))
    assert entropy[1] == pytest.approx(0.0, abs=1e-6)


def test_encoder_scorer_names_the_probe_score_only_with_a_probe():
    reference, features = unit([0.0, 5.0, 10.0]), unit([1.0, 2.0])
    assert set(encoder_scorer(reference, None)(features)) == {
        "knn_mean_cosine",
        "knn_distance_50",
        "inverse_norm",
        "mahalanobis",
    }
    with_probe = encoder_scorer(reference, probe_from([[1.0, 0.0], [0.0, 1.0]]))(features)
    assert "probe_entropy" in with_probe


def test_mahalanobis_by_hand():
    # Normalised reference rows (1, 0), (0, 1), (-1, 0), (0, -1): mean 0, covariance I * 2/3
    # (the 1 / (n - 1) estimate), so the squared distance is 1.5 |x|^2 of the unit query.
    reference = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [0.0, -5.0]])
    gaussian = FeatureGaussian.fit(reference)
    np.testing.assert_allclose(gaussian.mean.numpy(), [0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(gaussian.mahalanobis(torch.tensor([[7.0, 0.0]])), [1.5])


def test_mahalanobis_weighs_a_direction_by_how_little_the_reference_varies_along_it():
    # The reference spreads widely along the first axis and hardly along the second: a query
    # as far off along the second is far more unusual.
    angles = list(np.linspace(-40.0, 40.0, 41))
    reference = unit(angles) * torch.tensor([1.0, 0.05])  # squashed: rows re-normalised inside
    reference = torch.cat([reference, unit([0.0, 1.0, -1.0])])
    gaussian = FeatureGaussian.fit(reference)
    along_spread, across_it = gaussian.mahalanobis(unit([30.0, 90.0]))
    assert across_it > along_spread


def test_mahalanobis_of_a_degenerate_reference_measures_within_its_span():
    # Three reference rows in 5 dimensions: a covariance of rank 2, which the pseudo-inverse
    # handles; a query off the span is measured by its part inside it (finite, not inf/nan).
    reference = torch.eye(5)[:3] + 0.1
    found = FeatureGaussian.fit(reference).mahalanobis(
        torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    )
    assert np.isfinite(found).all() and (found >= 0).all()
    with pytest.raises(ValueError, match="2 or more reference images"):
        FeatureGaussian.fit(reference[:1])
