import math

import numpy as np
import pytest

from visim.evaluation.ranking_metrics import auroc, average_ranks, spearman


def test_average_ranks_share_the_mean_rank_of_a_tie():
    assert average_ranks(np.array([30, 10, 20, 20])).tolist() == [4.0, 1.0, 2.5, 2.5]
    assert average_ranks(np.array([5.0, 5.0, 5.0])).tolist() == [2.0, 2.0, 2.0]


def test_spearman_hand_computed_with_ties():
    # ranks x = 1..5, ranks y = [1, 2, 3.5, 5, 3.5]; centred dot 8, norms^2 10 and 9.5.
    rho = spearman(np.array([1, 2, 3, 4, 5]), np.array([5, 6, 7, 8, 7]))
    assert rho == pytest.approx(8 / math.sqrt(95))


def test_spearman_against_a_binary_outcome():
    # ranks of [0, 0, 1, 1] are [1.5, 1.5, 3.5, 3.5]: centred dot 4, norms^2 5 and 4.
    rho = spearman(np.array([1.0, 2.0, 3.0, 4.0]), np.array([0, 0, 1, 1]))
    assert rho == pytest.approx(4 / math.sqrt(20))


def test_spearman_is_one_for_monotone_and_minus_one_for_reversed_order():
    x = np.array([0.1, 3.0, 7.0, 200.0])
    assert spearman(x, np.exp(x / 100)) == pytest.approx(1.0)
    assert spearman(x, -(x**3)) == pytest.approx(-1.0)


def test_spearman_is_undefined_for_a_constant_input():
    assert math.isnan(spearman(np.array([1, 2, 3]), np.array([4, 4, 4])))


def test_auroc_hand_computed():
    # Positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered.
    assert auroc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == 0.75


def test_auroc_counts_a_tied_pair_as_half():
    # Pairs (2,1)=1, (2,2)=1/2, (3,1)=1, (3,2)=1 out of 4.
    assert auroc(np.array([1, 2, 2, 3]), np.array([False, True, False, True])) == 0.875
    assert auroc(np.array([7, 7, 7, 7]), np.array([0, 1, 0, 1])) == 0.5


def test_auroc_of_perfect_and_reversed_scores():
    positive = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert auroc(scores, positive) == 1.0
    assert auroc(-scores, positive) == 0.0


def test_auroc_is_undefined_with_one_class():
    assert math.isnan(auroc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="differ in length"):
        auroc(np.array([1, 2, 3]), np.array([0, 1]))
