import math

import pytest
import torch

from visim.evaluation.classification import (
    knn_class_scores,
    nearest_neighbours,
    topk_accuracy,
    topk_correct,
)


def clustered_features(centres: torch.Tensor, per_class: int, generator: torch.Generator):
    labels = torch.arange(len(centres)).repeat_interleave(per_class)
    features = centres[labels] + 0.05 * torch.randn(
        len(labels), centres.shape[1], generator=generator
    )
    return features, labels


def test_votes_are_weighted_by_exp_similarity_over_temperature():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    scores = knn_class_scores(train, labels, torch.tensor([[2.0, 0.0]]), 2, k=2, temperature=0.5)
    # Neighbours: [1, 0] (cos 1, class 0) and [1, 1] (cos 1/sqrt 2, class 1); [0, 1] is 3rd.
    expected = torch.tensor([[math.exp(2.0), math.exp(2**-0.5 / 0.5)]])
    torch.testing.assert_close(scores, expected)


def test_well_separated_clusters_are_classified_perfectly():
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(10, 64, generator=g), dim=1)
    train, train_labels = clustered_features(centres, 100, g)
    test, test_labels = clustered_features(centres, 30, g)
    scores = knn_class_scores(train, train_labels, test, 10)  # k=200 > 100 per class
    assert topk_accuracy(scores, test_labels, 1) == 1.0


def test_random_labels_give_chance_accuracy():
    # Test labels are drawn independently of everything the classifier sees, so each answer is
    # right with probability exactly 1/C (top-5: 5/C): the hit count is Binomial(n, p).
    # Six standard deviations bound a false failure at about 2e-9.
    g = torch.Generator().manual_seed(1)
    n, num_classes = 4000, 10
    train = torch.randn(2000, 32, generator=g)
    train_labels = torch.randint(num_classes, (2000,), generator=g)
    test = torch.randn(n, 32, generator=g)
    test_labels = torch.randint(num_classes, (n,), generator=g)
    scores = knn_class_scores(train, train_labels, test, num_classes)
    for k, p in ((1, 0.1), (5, 0.5)):
        bound = 6 * math.sqrt(p * (1 - p) / n)
        assert abs(topk_accuracy(scores, test_labels, k) - p) < bound


def test_chunking_and_oversized_k_do_not_change_the_scores():
    g = torch.Generator().manual_seed(2)
    train, labels = torch.randn(50, 8, generator=g), torch.randint(3, (50,), generator=g)
    test = torch.randn(23, 8, generator=g)
    whole = knn_class_scores(train, labels, test, 3, k=500, chunk_size=1024)
    chunked = knn_class_scores(train, labels, test, 3, k=500, chunk_size=7)
    torch.testing.assert_close(whole, chunked)


def test_invalid_settings_are_rejected():
    x, y = torch.randn(4, 2), torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match="temperature"):
        knn_class_scores(x, y, x, 1, temperature=0.0)
    with pytest.raises(ValueError, match="k must be"):
        knn_class_scores(x, y, x, 1, k=0)


def test_topk_correct_marks_labels_among_the_k_best_scores():
    scores = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    labels = torch.tensor([2, 2])
    assert topk_correct(scores, labels, 1).tolist() == [False, False]
    assert topk_correct(scores, labels, 2).tolist() == [True, False]
    assert topk_correct(scores, labels, 5).tolist() == [True, True]


def test_leave_one_out_neighbours_never_include_the_query_itself():
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    ((similarity, index),) = nearest_neighbours(features, features, 1, leave_one_out=True)
    # Image 0's nearest other image is its duplicate, 1; image 2's is 3.
    assert index[:, 0].tolist() == [1, 0, 3, 2]
    assert similarity[2, 0].item() == pytest.approx(0.8)
    with pytest.raises(ValueError, match="leave-one-out"):
        next(nearest_neighbours(features, features[:2], 1, leave_one_out=True))
