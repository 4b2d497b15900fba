"""How well an uncertainty score does its job, measured as the URL benchmark measures it
(Kirchhof et al. 2023, code: mkirchhof/url, validate.py). docs/method.md section 4.

Every score here is an uncertainty: higher = the image is more likely wrong or out of
distribution. Signs are fixed by that definition and never flipped: an AUROC below 0.5 means
the score points the wrong way, and is reported as such.

- R@1 and R-AUROC: each image of the evaluated split is "correct" when its nearest *other*
  image of the same split (cosine of L2-normalised features, leave-one-out) has its class;
  R-AUROC is the AUROC of -uncertainty against that correctness.
- probe AUROC: the same against the linear probe's top-1 correctness.
- OOD AUROC: the AUROC of uncertainty against is-out, on a fixed, seeded 50/50 subsample of
  in- and out-of-distribution images; FPR95: the share of out images taken for in when the
  threshold keeps 95 % of the in images (in images are the positives, as in ODIN and Sun et
  al. 2022: lower is better).
- cropped / blurred higher: the share of images whose degraded version
  (pipeline/augment/degradations.py) gets a strictly higher uncertainty than the original.
  Label-free; a score that ignores the image scores 0 (ties never count as higher).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from visim.evaluation.classification import nearest_neighbours
from visim.evaluation.eval_report import ScoreMetrics
from visim.evaluation.ranking_metrics import auroc

# Seed of the in/out subsample: one constant, so every run is measured on the same images.
OOD_SUBSAMPLE_SEED = 0
OOD_TPR = 0.95
METRICS = tuple(field.name for field in dataclasses.fields(ScoreMetrics))


def recall_at_one(features: torch.Tensor, labels: torch.Tensor) -> tuple[float, np.ndarray]:
    """(R@1, bool [N] whether each image's nearest other image has its label)."""
    neighbour = torch.cat(
        [index[:, 0] for _, index in nearest_neighbours(features, features, 1, leave_one_out=True)]
    )
    labels = labels.cpu()
    correct = (labels[neighbour.cpu()] == labels).numpy()
    return float(correct.mean()), correct


def ood_subsample(count_in: int, count_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted positions of equally many in and out images (as many as the smaller set has),
    drawn with OOD_SUBSAMPLE_SEED."""
    count = min(count_in, count_out)
    rng = np.random.default_rng(OOD_SUBSAMPLE_SEED)
    chosen_in = np.sort(rng.permutation(count_in)[:count])
    chosen_out = np.sort(rng.permutation(count_out)[:count])
    return chosen_in, chosen_out


def fpr_at_tpr(uncertainty_in: np.ndarray, uncertainty_out: np.ndarray) -> float:
    """Share of out images at or below the uncertainty that keeps OOD_TPR of the in images
    (the smallest threshold under which at least that share of them lies)."""
    ordered = np.sort(np.asarray(uncertainty_in, dtype=np.float64))
    threshold = ordered[math.ceil(OOD_TPR * len(ordered)) - 1]
    return float(np.mean(np.asarray(uncertainty_out) <= threshold))


def ood_metrics(uncertainty_in: np.ndarray, uncertainty_out: np.ndarray) -> dict[str, float]:
    """{"ood_auroc", "ood_fpr95"} on the seeded 50/50 subsample of the two sets."""
    chosen_in, chosen_out = ood_subsample(len(uncertainty_in), len(uncertainty_out))
    inside = np.asarray(uncertainty_in)[chosen_in]
    outside = np.asarray(uncertainty_out)[chosen_out]
    is_out = np.r_[np.zeros(len(inside), bool), np.ones(len(outside), bool)]
    return {
        "ood_auroc": auroc(np.concatenate([inside, outside]), is_out),
        "ood_fpr95": fpr_at_tpr(inside, outside),
    }


def share_higher(original: np.ndarray, degraded: np.ndarray) -> float:
    """Share of images whose degraded version is strictly more uncertain than the original."""
    original, degraded = np.asarray(original), np.asarray(degraded)
    if original.shape != degraded.shape or len(original) == 0:
        raise ValueError(f"share_higher: shapes {original.shape} and {degraded.shape}")
    return float(np.mean(degraded > original))


def score_metrics(
    uncertainty: np.ndarray,
    neighbour_correct: np.ndarray,
    probe_correct: np.ndarray | None,
    ood_uncertainty: np.ndarray | None = None,
    degraded: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
) -> ScoreMetrics:
    """Every metric of ScoreMetrics for one score; None where its data was not given.

    uncertainty: [N] of the test images; neighbour_correct / probe_correct: bool [N];
    ood_uncertainty: [M] of the out images; degraded: {"cropped" | "blurred": (the original
    images' uncertainty [n], their degraded versions' [n])}.
    """
    confidence = -np.asarray(uncertainty, dtype=np.float64)
    result: dict[str, float | None] = dict.fromkeys(METRICS)
    result["r_auroc"] = auroc(confidence, neighbour_correct)
    if probe_correct is not None:
        result["probe_auroc"] = auroc(confidence, probe_correct)
    if ood_uncertainty is not None:
        result.update(ood_metrics(uncertainty, ood_uncertainty))
    for kind, (original, changed) in (degraded or {}).items():
        result[f"{kind}_higher"] = share_higher(original, changed)
    return ScoreMetrics(**result)
