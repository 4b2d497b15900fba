"""Weighted k-nearest-neighbour classification on cosine similarity.

The InstDisc monitor that SimSiam's reference code uses: each of the k most similar training
features votes for its label with weight exp(similarity / temperature).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F


def nearest_neighbours(
    train_features: torch.Tensor, query_features: torch.Tensor, k: int, chunk_size: int = 1024
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(cosine similarity [n, k], train index [n, k]) of each query's k most similar training
    features, chunk by chunk, so the similarity matrix stays [chunk, N_train]."""
    if k < 1:
        raise ValueError(f"kNN k must be at least 1, got {k}")
    k = min(k, len(train_features))
    bank = F.normalize(train_features.float(), dim=1)  # [N_train, D]
    for start in range(0, len(query_features), chunk_size):
        query = F.normalize(query_features[start : start + chunk_size].float(), dim=1)
        yield (query.to(bank.device) @ bank.T).topk(k, dim=1)


def knn_class_scores(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Summed vote weight per class for each test feature (float32 [N_test, num_classes]).

    train_features: [N_train, D]; train_labels: int64 [N_train]; test_features: [N_test, D].
    """
    if temperature <= 0:
        raise ValueError(f"kNN temperature must be positive, got {temperature}")
    labels = train_labels.to(train_features.device)
    scores = []
    for similarity, neighbours in nearest_neighbours(train_features, test_features, k, chunk_size):
        weights = (similarity / temperature).exp()
        votes = torch.zeros(len(similarity), num_classes, device=similarity.device)
        votes.scatter_add_(1, labels[neighbours], weights)  # [n, num_classes]
        scores.append(votes)
    return torch.cat(scores) if scores else torch.zeros(0, num_classes)


def mean_neighbour_similarity(
    train_features: torch.Tensor, query_features: torch.Tensor, k: int, chunk_size: int = 1024
) -> torch.Tensor:
    """Mean cosine of each query to its k most similar training features (float32 [N]): a
    label-free confidence score, high where the training set is dense around the query."""
    means = [
        similarity.mean(dim=1)
        for similarity, _ in nearest_neighbours(train_features, query_features, k, chunk_size)
    ]
    return torch.cat(means) if means else torch.zeros(0)
