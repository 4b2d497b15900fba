"""Per-image uncertainty scores from a frozen encoder, all oriented one way: higher = less
certain (more likely wrong, more likely out of distribution). docs/method.md section 4.

- kappa (VI-SimSiam, learned): -log kappa of the posterior.
- knn_mean_cosine (label-free): minus the mean cosine of an image's backbone features to its
  KNN_MEAN_K nearest reference (training) features: cleanlab's outlier score.
- knn_distance_50 (label-free): the distance between L2-normalised features to the
  KNN_FAR_K-th nearest reference feature (Sun et al. 2022, "deep nearest neighbours").
- inverse_norm (label-free): 1 / the L2 norm of the backbone features; the embedding norm is
  the best self-supervised read-out URL found (InfoNCE, R-AUROC 0.717).
- probe_entropy (supervised reference): the entropy of the linear probe's softmax. It knows
  the labels, which kappa never sees: a ceiling to compare with rather than a rival.

A score that is None for a run (no kappa, no probe) is simply absent.
"""

from __future__ import annotations

import numpy as np
import torch

from visim.evaluation.classification import nearest_neighbours
from visim.evaluation.linear_probe import LinearProbe

KNN_MEAN_K = 10
KNN_FAR_K = 50
LABEL_FREE = ("knn_mean_cosine", "knn_distance_50", "inverse_norm")
# Where each score comes from, as eval.json and the printed table say.
SOURCES = {
    "kappa": "learned",
    **{name: "label-free" for name in LABEL_FREE},
    "probe_entropy": "supervised",
}


def knn_density(
    reference: torch.Tensor, query: torch.Tensor, leave_one_out: bool = False
) -> dict[str, np.ndarray]:
    """The two kNN density scores of each query (float64 [N] each), as uncertainties.

    leave_one_out: the queries are the reference set itself; an image is not its own
    neighbour. With fewer reference images than KNN_FAR_K, the farthest one there is.
    """
    means, far = [], []
    for similarity, _ in nearest_neighbours(reference, query, KNN_FAR_K, 1024, leave_one_out):
        means.append(similarity[:, :KNN_MEAN_K].mean(dim=1))
        far.append(similarity[:, -1])  # [n]: the k-th highest cosine, k = min(50, available)
    mean_cosine = torch.cat(means).double().cpu().numpy()
    kth_cosine = torch.cat(far).double().cpu().numpy()
    return {
        "knn_mean_cosine": -mean_cosine,
        # |a - b| of unit vectors is sqrt(2 - 2 cos); clipped where rounding goes below 0.
        "knn_distance_50": np.sqrt(np.clip(2.0 - 2.0 * kth_cosine, 0.0, None)),
    }


def inverse_norm(features: torch.Tensor) -> np.ndarray:
    """1 / ||features|| per row (float64 [N]); a zero vector is infinitely uncertain."""
    norms = features.double().norm(dim=1).cpu().numpy()
    with np.errstate(divide="ignore"):
        return 1.0 / norms


def probe_entropy(probe: LinearProbe, features: torch.Tensor) -> np.ndarray:
    """Entropy (nats) of the probe's class distribution per image (float64 [N])."""
    log_p = probe.scores(features).double().log_softmax(dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).cpu().numpy()


def kappa_uncertainty(kappa: np.ndarray) -> np.ndarray:
    """-log kappa (float64 [N]): low concentration = high uncertainty; a kappa of 0 (the fit
    readout of views that do not agree at all) is infinitely uncertain, which ranks as such."""
    with np.errstate(divide="ignore"):
        return -np.log(np.asarray(kappa, dtype=np.float64))


def encoder_scores(
    reference: torch.Tensor,
    features: torch.Tensor,
    probe: LinearProbe | None,
    leave_one_out: bool = False,
) -> dict[str, np.ndarray]:
    """Every score the features give (the label-free ones, and probe_entropy with a probe) of
    each row of `features` [N, D]; the kNN scores against `reference` [M, D]."""
    scores = {
        **knn_density(reference, features, leave_one_out),
        "inverse_norm": inverse_norm(features),
    }
    if probe is not None:
        scores["probe_entropy"] = probe_entropy(probe, features)
    return scores
