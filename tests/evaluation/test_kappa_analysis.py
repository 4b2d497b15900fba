import math

import numpy as np
import pytest
import torch

from visim.evaluation.kappa_analysis import (
    equal_count_bins,
    kappa_spread,
    kappa_summary,
    kappa_vs_correctness,
    ood_auroc,
    shared_histogram,
    spread_warning,
)
from visim.evaluation.kappa_report import extreme_images
from visim.pipeline.sources.factory import open_source


def test_bins_hold_equal_counts_in_kappa_order():
    kappa = np.array([5.0, 1.0, 4.0, 2.0, 6.0, 3.0])
    correct = np.array([1, 0, 1, 0, 1, 1], dtype=bool)
    bins = equal_count_bins(kappa, correct, num_bins=3)
    assert [b.count for b in bins] == [2, 2, 2]
    assert [(b.kappa_min, b.kappa_max) for b in bins] == [(1, 2), (3, 4), (5, 6)]
    assert [b.mean_kappa for b in bins] == [1.5, 3.5, 5.5]
    assert [b.accuracy for b in bins] == [0.0, 1.0, 1.0]


def test_more_bins_than_images_gives_one_image_per_bin():
    bins = equal_count_bins(np.array([2.0, 1.0]), np.array([True, False]), num_bins=10)
    assert [b.count for b in bins] == [1, 1]


def test_kappa_that_ranks_correct_answers_first_scores_perfectly():
    rng = np.random.default_rng(0)
    kappa = rng.uniform(10, 1000, size=200)
    correct = kappa > np.median(kappa)
    result = kappa_vs_correctness(kappa, correct, num_bins=10)
    assert result.auroc_correct == 1.0
    assert [b.accuracy for b in result.bins] == [0.0] * 5 + [1.0] * 5

    # Ranks 1..n against a step (n/2 tied zeros, then n/2 tied ones, average ranks):
    # rho = sqrt(3 n^2 / (4 (n^2 - 1))), short of 1 because the step has ties.
    def step_rho(n):
        return math.sqrt(3 * n**2 / (4 * (n**2 - 1)))

    assert result.spearman_bins == pytest.approx(step_rho(10))
    assert result.spearman_per_image == pytest.approx(step_rho(200))


def test_uninformative_kappa_is_near_chance():
    rng = np.random.default_rng(1)
    n = 5000
    result = kappa_vs_correctness(rng.uniform(1, 2, n), rng.random(n) < 0.6)
    # AUROC of an independent score: sd = sqrt((n_pos + n_neg + 1) / (12 n_pos n_neg)) ~ 0.0083.
    assert abs(result.auroc_correct - 0.5) < 6 * 0.0083
    assert abs(result.spearman_per_image) < 6 / math.sqrt(n)


def test_ood_auroc_is_high_when_in_distribution_kappa_is_higher():
    assert ood_auroc(np.array([5.0, 6.0, 7.0]), np.array([1.0, 2.0])) == 1.0
    assert ood_auroc(np.array([1.0, 2.0]), np.array([2.0, 3.0])) == pytest.approx(1 / 8)


def test_histogram_shares_log_spaced_edges_across_sets():
    hist = shared_histogram({"clean": np.array([1.0, 10.0, 100.0]), "aug": np.array([5.0])}, 4)
    assert hist.log_spaced
    assert hist.edges == pytest.approx([1.0, 10**0.5, 10.0, 10**1.5, 100.0])
    assert hist.counts == {"clean": [1, 0, 1, 1], "aug": [0, 1, 0, 0]}


def test_histogram_of_a_single_value_still_counts_it():
    hist = shared_histogram({"clean": np.array([3.0, 3.0])}, 5)
    assert sum(hist.counts["clean"]) == 2


def test_summary_quantiles():
    summary = kappa_summary(np.arange(1.0, 102.0))
    assert summary.median == 51.0
    assert (summary.min, summary.max, summary.count) == (1.0, 101.0, 101)


def test_extreme_images_come_most_extreme_first_with_their_names():
    source = open_source("demo:40", "test")
    test = {
        "kappa": torch.tensor([3.0, 1.0, 4.0, 1.5, 9.0]),
        "indices": torch.tensor([5, 6, 7, 8, 9]),
        "labels": torch.from_numpy(source.labels[5:10]),
    }
    correct = torch.tensor([True, False, True, False, True])
    extremes = extreme_images(test, correct, source, count=2)
    assert [row.kappa for row in extremes["highest"]] == [9.0, 4.0]
    assert [row.kappa for row in extremes["lowest"]] == [1.0, 1.5]
    lowest = extremes["lowest"][0]
    assert (lowest.index, lowest.item) == (6, source.describe(6))
    assert lowest.label == source.classes[source.labels[6]]
    assert lowest.probe_correct is False
    assert extreme_images(test, None, source, count=1)["lowest"][0].probe_correct is None
    assert extreme_images(test, correct, source, count=0) == {}


def test_spread_warning_fires_on_a_constant_kappa_and_names_the_cause():
    # The held-out digits run: every clean image at 1875.8-1879.7.
    flat = np.linspace(1875.8, 1879.7, 1000)
    spread = kappa_spread(flat)
    assert not spread.informative
    assert spread.relative_range == pytest.approx((spread.q95 - spread.q05) / 1877.75, rel=1e-3)
    warning = spread_warning(spread, "the test images")
    assert warning is not None and "no per-image information" in warning
    assert "augmented" in warning  # the likely cause is named
    constant = kappa_spread(np.full(50, 3.0))
    assert constant.relative_range == 0.0 and spread_warning(constant, "x") is not None


def test_spread_warning_stays_quiet_on_a_spread_kappa():
    # The 24-epoch run of the same digits: 1064-2287.
    spread = kappa_spread(np.linspace(1000.0, 2350.0, 1000))
    assert spread.informative
    assert spread_warning(spread, "the test images") is None
