"""Weighted k-nearest-neighbour classification on cosine similarity.

The InstDisc monitor that SimSiam's reference code uses: each of the k most similar training
features votes for its label with weight exp(similarity / temperature).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
    Test features are processed in chunks so the similarity matrix stays [chunk, N_train].
    """
    if k < 1:
        raise ValueError(f"kNN k must be at least 1, got {k}")
    if temperature <= 0:
        raise ValueError(f"kNN temperature must be positive, got {temperature}")
    k = min(k, len(train_features))
    bank = F.normalize(train_features.float(), dim=1)  # [N_train, D]
    labels = train_labels.to(bank.device)
    scores = []
    for start in range(0, len(test_features), chunk_size):
        query = F.normalize(test_features[start : start + chunk_size].float(), dim=1)
        similarity, neighbours = (query.to(bank.device) @ bank.T).topk(k, dim=1)  # [n, k]
        weights = (similarity / temperature).exp()
        votes = torch.zeros(len(query), num_classes, device=bank.device)
        votes.scatter_add_(1, labels[neighbours], weights)  # [n, num_classes]
        scores.append(votes)
    return torch.cat(scores) if scores else torch.zeros(0, num_classes)
