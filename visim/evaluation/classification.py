"""Classifying frozen features: weighted kNN, top-k accuracy, and both classifiers' scores.

The kNN classifier is the InstDisc monitor that SimSiam's reference code uses: each of the k
most similar training features (cosine similarity) votes for its label with weight
exp(similarity / temperature). classify measures it and the linear probe on one set of
features; top-k correctness is shared by both.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from visim.evaluation.eval_report import Accuracy, TopK
from visim.evaluation.eval_settings import EvalSettings
from visim.evaluation.linear_probe import LinearProbe, fit_linear_probe


def nearest_neighbours(
    train_features: torch.Tensor,
    query_features: torch.Tensor,
    k: int,
    chunk_size: int = 1024,
    leave_one_out: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(cosine similarity [n, k], train index [n, k]) of each query's k most similar training
    features, chunk by chunk, so the similarity matrix stays [chunk, N_train].

    leave_one_out: the queries are the training features themselves, and query i never has
    training feature i among its neighbours (excluded by position, so an exact duplicate of
    an image still counts as its neighbour).
    """
    if k < 1:
        raise ValueError(f"kNN k must be at least 1, got {k}")
    if leave_one_out and len(query_features) != len(train_features):
        raise ValueError("leave-one-out neighbours need the queries to be the training features")
    k = min(k, len(train_features) - int(leave_one_out))
    if k < 1:
        raise ValueError("leave-one-out neighbours need at least 2 features")
    bank = F.normalize(train_features.float(), dim=1)  # [N_train, D]
    for start in range(0, len(query_features), chunk_size):
        query = F.normalize(query_features[start : start + chunk_size].float(), dim=1)
        similarity = query.to(bank.device) @ bank.T  # [n, N_train]
        if leave_one_out:
            rows = torch.arange(len(similarity), device=similarity.device)
            similarity[rows, rows + start] = -math.inf
        yield similarity.topk(k, dim=1)


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


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Whether each label is among the k highest scores (bool [N]).

    scores: [N, C]; labels: int64 [N]. k larger than C counts every answer as correct.
    """
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices  # [N, k]
    return (top == labels.to(top.device).unsqueeze(1)).any(dim=1)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of rows whose label is among the k highest scores."""
    # float64: a fraction of n images prints as such (0.4, not 0.4000000059604645).
    return topk_correct(scores, labels, k).double().mean().item()


def classify(
    train: dict[str, torch.Tensor],
    test: dict[str, torch.Tensor],
    num_classes: int,
    *,
    knn_k: int,
    knn_temperature: float,
    probe_weight_decay: float,
    probe_max_iter: int,
    device: torch.device,
) -> tuple[Accuracy, torch.Tensor, LinearProbe]:
    """Top-1/top-5 of both classifiers, whether the probe's top-1 is right per test image, and
    the fitted probe (the uncertainty baselines score other images with it).

    train/test: {"features": [N, D], "labels": [N]} as extract_features returns them.
    Returns (the accuracies, bool [N_test] on CPU, the probe).
    """
    train_features = train["features"].to(device)
    test_features = test["features"].to(device)
    test_labels = test["labels"].to(device)
    knn_scores = knn_class_scores(
        train_features, train["labels"], test_features, num_classes, knn_k, knn_temperature
    )
    probe = fit_linear_probe(
        train_features, train["labels"], num_classes, probe_weight_decay, probe_max_iter
    )
    probe_scores = probe.scores(test_features)

    def top_k(scores: torch.Tensor) -> TopK:
        return TopK(*(topk_accuracy(scores, test_labels, k) for k in (1, 5)))

    results = Accuracy(knn=top_k(knn_scores), linear_probe=top_k(probe_scores))
    return results, topk_correct(probe_scores, test_labels, 1).cpu(), probe


def classify_as_set(
    train: dict[str, torch.Tensor],
    test: dict[str, torch.Tensor],
    num_classes: int,
    settings: EvalSettings,
    device: torch.device,
) -> tuple[Accuracy, torch.Tensor, LinearProbe]:
    """classify with the kNN and probe options of `settings`."""
    return classify(
        train,
        test,
        num_classes,
        knn_k=settings.knn_k,
        knn_temperature=settings.knn_temperature,
        probe_weight_decay=settings.probe_weight_decay,
        probe_max_iter=settings.probe_max_iter,
        device=device,
    )
