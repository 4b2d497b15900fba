"""The URL-benchmark metrics (uncertainty_metrics.py) against values worked out by hand."""

import numpy as np
import pytest
import torch

from visim.evaluation.uncertainty_metrics import (
    METRICS,
    fpr_at_tpr,
    ood_metrics,
    ood_subsample,
    recall_at_one,
    score_metrics,
    share_higher,
)


def test_recall_at_one_leaves_each_image_out():
    # Four points on the unit circle: 0 and 1 are 10 degrees apart, 2 and 3 too, the pairs
    # 90 degrees apart. Each image's nearest *other* image is its pair partner.
    angles = np.deg2rad([0.0, 10.0, 90.0, 100.0])
    features = torch.tensor(np.stack([np.cos(angles), np.sin(angles)], axis=1), dtype=torch.float32)
    labels = torch.tensor([0, 0, 1, 2])  # image 2 and 3 are partners of different classes
    r_at_1, correct = recall_at_one(features * 5.0, labels)  # the norm must not matter
    assert correct.tolist() == [True, True, False, False]
    assert r_at_1 == 0.5


def test_recall_at_one_counts_an_exact_duplicate_as_a_neighbour():
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    _, correct = recall_at_one(features, torch.tensor([4, 4, 7]))
    assert correct.tolist() == [True, True, False]


def test_r_auroc_rewards_high_uncertainty_on_wrong_images():
    uncertainty = np.array([0.1, 0.2, 0.9, 0.8])
    neighbour_correct = np.array([True, True, False, False])
    metrics = score_metrics(uncertainty, neighbour_correct, None)
    assert metrics.r_auroc == 1.0
    # The sign test: the same score negated is the wrong way round and must show as 0, not be
    # flipped back to 1.
    assert score_metrics(-uncertainty, neighbour_correct, None).r_auroc == 0.0
    assert metrics.probe_auroc is None and metrics.ood_auroc is None


def test_probe_auroc_is_measured_against_the_probes_answers():
    uncertainty = np.array([0.1, 0.2, 0.3, 0.4])
    metrics = score_metrics(
        uncertainty, np.array([True, True, True, False]), np.array([False, True, True, True])
    )
    assert metrics.r_auroc == 1.0
    assert metrics.probe_auroc == 0.0  # the one wrong probe answer has the lowest uncertainty


def test_fpr95_counts_out_images_under_the_threshold_that_keeps_95_percent_in():
    inside = np.arange(1, 21, dtype=float)  # 20 in images: 95 % of them are <= 19
    outside = np.array([0.5, 18.0, 19.0, 19.5, 30.0])
    # Out images at or below 19: 0.5, 18, 19 -> 3 of 5.
    assert fpr_at_tpr(inside, outside) == pytest.approx(0.6)
    assert fpr_at_tpr(inside, np.array([25.0, 26.0])) == 0.0


def test_ood_subsample_is_fixed_and_half_and_half():
    first = ood_subsample(100, 30)
    assert len(first[0]) == len(first[1]) == 30
    assert np.all(np.diff(first[0]) > 0) and first[1].tolist() == list(range(30))
    again = ood_subsample(100, 30)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))


def test_ood_auroc_is_uncertainty_against_is_out_never_flipped():
    inside = np.linspace(0.0, 1.0, 50)
    outside = np.linspace(2.0, 3.0, 80)
    assert ood_metrics(inside, outside) == {"ood_auroc": 1.0, "ood_fpr95": 0.0}
    flipped = ood_metrics(-inside, -outside)
    assert flipped["ood_auroc"] == 0.0 and flipped["ood_fpr95"] == 1.0


def test_share_higher_counts_strict_rises_only():
    original = np.array([1.0, 1.0, 1.0, 1.0])
    assert share_higher(original, np.array([2.0, 0.5, 1.0, 3.0])) == 0.5
    # A score that ignores the image (a constant) never rises: 0, not the 0.5 of chance.
    assert share_higher(original, original.copy()) == 0.0
    with pytest.raises(ValueError):
        share_higher(original, original[:2])


def test_score_metrics_fills_every_metric_it_has_data_for():
    metrics = score_metrics(
        np.array([0.1, 0.5, 0.9]),
        np.array([True, True, False]),
        np.array([True, False, False]),
        ood_uncertainty=np.array([1.0, 2.0, 3.0]),
        degraded={"cropped": (np.array([0.1, 0.5]), np.array([0.2, 0.4]))},
    )
    assert {name: getattr(metrics, name) is not None for name in METRICS} == {
        "r_auroc": True,
        "probe_auroc": True,
        "ood_auroc": True,
        "ood_fpr95": True,
        "cropped_higher": True,
        "blurred_higher": False,
    }
    assert metrics.cropped_higher == 0.5 and metrics.ood_auroc == 1.0
