"""Per-image uncertainty scores from a frozen encoder, all oriented one way: higher = less
certain (more likely wrong, more likely out of distribution). docs/method.md section 4.

- kappa (VI-SimSiam, learned): -log kappa of the posterior.
- knn_mean_cosine (label-free): minus the mean cosine of an image's backbone features to its
  KNN_MEAN_K nearest reference (training) features: cleanlab's outlier score.
- knn_distance_50 (label-free): the distance between L2-normalised features to the
  KNN_FAR_K-th nearest reference feature (Sun et al. 2022, "deep nearest neighbours").
- inverse_norm (label-free): 1 / the L2 norm of the backbone features; the embedding norm is
  the best self-supervised read-out URL found (InfoNCE, R-AUROC 0.717).
- mahalanobis (label-free): the squared Mahalanobis distance of the L2-normalised features to
  the reference features' mean, under their covariance: SSD (Sehwag et al. 2021) with one
  cluster, its unlabelled form with the fewest choices.
- probe_entropy (supervised reference): the entropy of the linear probe's softmax. It knows
  the labels, which kappa never sees: a ceiling to compare with rather than a rival.

A score that is None for a run (no kappa, no probe) is simply absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from visim.evaluation.classification import nearest_neighbours
from visim.evaluation.linear_probe import LinearProbe

KNN_MEAN_K = 10
KNN_FAR_K = 50
# Rows per matrix product in mahalanobis: bounds its float64 copies on large sets.
MAHALANOBIS_CHUNK = 8192
LABEL_FREE = ("knn_mean_cosine", "knn_distance_50", "inverse_norm", "mahalanobis")
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


@dataclass(frozen=True)
class FeatureGaussian:
    """The mean and covariance of L2-normalised reference features, for `mahalanobis`: fitted
    once per reference set, then applied to every query set."""

    mean: torch.Tensor  # [D] float64
    precision: torch.Tensor  # [D, D] float64: the covariance's pseudo-inverse

    @classmethod
    def fit(cls, reference: torch.Tensor) -> FeatureGaussian:
        """The pseudo-inverse, so that a covariance of lower rank than the features (fewer
        images than dimensions) measures distance within the span the reference covers."""
        if len(reference) < 2:
            raise ValueError(f"mahalanobis needs 2 or more reference images, got {len(reference)}")
        chunks = reference.split(MAHALANOBIS_CHUNK)
        sums = [F.normalize(rows.double(), dim=1).sum(dim=0) for rows in chunks]
        mean = torch.stack(sums).sum(dim=0) / len(reference)
        scatter = torch.zeros(len(mean), len(mean), dtype=torch.float64, device=mean.device)
        for rows in chunks:  # two passes: exact where sum(x x^T) - n m m^T would cancel
            centred = F.normalize(rows.double(), dim=1) - mean
            scatter += centred.T @ centred
        precision = torch.linalg.pinv(scatter / (len(reference) - 1), hermitian=True)
        return cls(mean, precision)

    def mahalanobis(self, query: torch.Tensor) -> np.ndarray:
        """Squared Mahalanobis distance (float64 [N]) of each L2-normalised query row."""
        distances = []
        for rows in query.split(MAHALANOBIS_CHUNK):
            centred = F.normalize(rows.to(self.mean.device).double(), dim=1) - self.mean
            distances.append(((centred @ self.precision) * centred).sum(dim=1))
        return torch.cat(distances).cpu().numpy()


def probe_entropy(probe: LinearProbe, features: torch.Tensor) -> np.ndarray:
    """Entropy (nats) of the probe's class distribution per image (float64 [N])."""
    log_p = probe.scores(features).double().log_softmax(dim=1)
    return -(log_p.exp() * log_p).sum(dim=1).cpu().numpy()


def kappa_uncertainty(kappa: np.ndarray) -> np.ndarray:
    """-log kappa (float64 [N]): low concentration = high uncertainty; a kappa of 0 (the fit
    readout of views that do not agree at all) is infinitely uncertain, which ranks as such."""
    with np.errstate(divide="ignore"):
        return -np.log(np.asarray(kappa, dtype=np.float64))


def encoder_scorer(
    reference: torch.Tensor, probe: LinearProbe | None
) -> Callable[..., dict[str, np.ndarray]]:
    """A function giving every score the features give (the label-free ones, and
    probe_entropy with a probe) of each row of `features` [N, D], against `reference` [M, D];
    leave_one_out=True when `features` is the reference itself (the kNN scores then skip the
    image; one image barely moves the mean and covariance behind `mahalanobis`, which keep
    it). The reference's Gaussian is fitted once, here."""
    gaussian = FeatureGaussian.fit(reference)

    def scores(features: torch.Tensor, leave_one_out: bool = False) -> dict[str, np.ndarray]:
        found = {
            **knn_density(reference, features, leave_one_out),
            "inverse_norm": inverse_norm(features),
            "mahalanobis": gaussian.mahalanobis(features),
        }
        if probe is not None:
            found["probe_entropy"] = probe_entropy(probe, features)
        return found

    return scores
