"""Scores to measure kappa against: does it tell more than what the features already do?

- knn_cosine, label-free: the mean cosine of an image's backbone features to its k nearest
  training features (k = --knn-k). Dense neighbourhoods are where the probe is usually right
  and where in-distribution images lie.
- max_softmax, supervised: the linear probe's highest class probability, the standard
  reference for predicting misclassification (Hendrycks & Gimpel 2017). It knows the labels,
  which kappa never sees, so it is a ceiling to compare with rather than a rival.

Each gets the AUROCs kappa gets: predicting a right probe answer, and separating in- from
out-of-distribution images.
"""

from __future__ import annotations

import numpy as np
import torch

from visim.train.evaluation.classification import mean_neighbour_similarity
from visim.train.evaluation.kappa_analysis import ood_auroc
from visim.train.evaluation.linear_probe import LinearProbe
from visim.train.evaluation.ranking_metrics import auroc

BASELINES = ("knn_cosine", "max_softmax")


def baseline_scores(
    train_features: torch.Tensor, features: torch.Tensor, probe: LinearProbe, k: int
) -> dict[str, np.ndarray]:
    """Every baseline's score per image of `features` [N, D] (higher = more confident)."""
    return {
        "knn_cosine": mean_neighbour_similarity(train_features, features, k).cpu().numpy(),
        "max_softmax": probe.scores(features).softmax(dim=1).max(dim=1).values.cpu().numpy(),
    }


def score_aurocs(
    test_scores: dict[str, np.ndarray],
    probe_correct: np.ndarray,
    ood_scores: dict[str, np.ndarray] | None,
) -> dict[str, dict]:
    """{score name: {"auroc_correct", "ood_auroc" (None without OOD data)}} for every score
    of `test_scores`: the baselines' and kappa's readouts alike."""
    return {
        name: {
            "auroc_correct": auroc(scores, probe_correct),
            "ood_auroc": None if ood_scores is None else ood_auroc(scores, ood_scores[name]),
        }
        for name, scores in test_scores.items()
    }


def baselines_report(
    test_scores: dict[str, np.ndarray],
    probe_correct: np.ndarray,
    ood_scores: dict[str, np.ndarray] | None,
) -> dict[str, dict]:
    """score_aurocs of every baseline."""
    return score_aurocs({name: test_scores[name] for name in BASELINES}, probe_correct, ood_scores)
