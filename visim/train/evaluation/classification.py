"""kNN and linear-probe accuracy of one set of frozen features."""

from __future__ import annotations

import torch

from visim.train.evaluation.knn import knn_class_scores
from visim.train.evaluation.linear_probe import LinearProbe, fit_linear_probe
from visim.train.evaluation.topk_accuracy import topk_accuracy, topk_correct


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
) -> tuple[dict, torch.Tensor, LinearProbe]:
    """Top-1/top-5 of both classifiers, whether the probe's top-1 is right per test image, and
    the fitted probe (the uncertainty baselines score other images with it).

    train/test: {"features": [N, D], "labels": [N]} as extract_features returns them.
    Returns ({"knn": {"top1", "top5"}, "linear_probe": {"top1", "top5"}}, bool [N_test] on CPU,
    the probe).
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
    results = {
        name: {f"top{k}": topk_accuracy(scores, test_labels, k) for k in (1, 5)}
        for name, scores in (("knn", knn_scores), ("linear_probe", probe_scores))
    }
    return results, topk_correct(probe_scores, test_labels, 1).cpu(), probe
