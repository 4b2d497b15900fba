"""What kappa says about the test images (docs/method.md section 4).

kappa is the Power Spherical concentration predicted per image: high kappa should mean a
confident representation, so it should rank correct probe answers above wrong ones, drop under
harsh augmentations, and sit higher on in-distribution than on out-of-distribution images.
"""

from __future__ import annotations

import numpy as np

from visim.evaluation.eval_report import (
    KappaBin,
    KappaCorrectness,
    KappaHistogram,
    KappaSpread,
    KappaSummary,
)
from visim.evaluation.ranking_metrics import auroc, spearman

HISTOGRAM_BINS = 40
# kappa is shown on a log axis when it spans at least this ratio (max / min): late in training
# it spans orders of magnitude, while a narrow range reads better on a linear axis.
LOG_SCALE_MIN_RATIO = 10.0


def wants_log_scale(low: float, high: float) -> bool:
    return low > 0 and high / low >= LOG_SCALE_MIN_RATIO


def equal_count_bins(kappa: np.ndarray, correct: np.ndarray, num_bins: int = 10) -> list[KappaBin]:
    """Test images sorted by kappa and split into `num_bins` bins of (nearly) equal size.

    Each bin: its kappa range, mean kappa, probe accuracy and image count. Images with tied
    kappa may land in neighbouring bins; the split is by sorted position, so counts stay equal.
    """
    if num_bins < 1:
        raise ValueError(f"the number of kappa bins must be at least 1, got {num_bins}")
    kappa = np.asarray(kappa, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    order = np.argsort(kappa, kind="stable")
    bins = []
    for members in np.array_split(order, min(num_bins, len(kappa))):
        k = kappa[members]
        bins.append(
            KappaBin(
                kappa_min=float(k.min()),
                kappa_max=float(k.max()),
                mean_kappa=float(k.mean()),
                accuracy=float(correct[members].mean()),
                count=int(len(members)),
            )
        )
    return bins


def kappa_vs_correctness(
    kappa: np.ndarray, correct: np.ndarray, num_bins: int = 10
) -> KappaCorrectness:
    """How well kappa predicts a correct probe answer, per image and per equal-count bin."""
    bins = equal_count_bins(kappa, correct, num_bins)
    correct = np.asarray(correct, dtype=bool)
    return KappaCorrectness(
        bins=bins,
        # Per image: rank correlation of kappa with the 0/1 outcome (ties get average ranks).
        spearman_per_image=spearman(kappa, correct.astype(np.float64)),
        # Per bin: does accuracy rise with the bins' mean kappa?
        spearman_bins=spearman(
            np.array([b.mean_kappa for b in bins]), np.array([b.accuracy for b in bins])
        ),
        auroc_correct=auroc(kappa, correct),
    )


def ood_auroc(kappa_in: np.ndarray, kappa_out: np.ndarray) -> float:
    """AUROC of kappa separating in-distribution (positive, expected higher) from OOD images."""
    scores = np.concatenate([np.asarray(kappa_in), np.asarray(kappa_out)])
    positive = np.r_[np.ones(len(kappa_in), bool), np.zeros(len(kappa_out), bool)]
    return auroc(scores, positive)


def kappa_summary(kappa: np.ndarray) -> KappaSummary:
    kappa = np.asarray(kappa, dtype=np.float64)
    q05, q25, q50, q75, q95 = np.quantile(kappa, [0.05, 0.25, 0.5, 0.75, 0.95])
    return KappaSummary(
        count=int(len(kappa)),
        mean=float(kappa.mean()),
        min=float(kappa.min()),
        q05=float(q05),
        q25=float(q25),
        median=float(q50),
        q75=float(q75),
        q95=float(q95),
        max=float(kappa.max()),
    )


def shared_histogram(
    kappas: dict[str, np.ndarray], num_bins: int = HISTOGRAM_BINS
) -> KappaHistogram:
    """Counts of each named kappa set over one set of edges, so the sets can be overlaid.

    Edges are log-spaced when the values span a decade or more (wants_log_scale).
    """
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in kappas.values()])
    low, high = float(values.min()), float(values.max())
    if high <= low:  # one distinct value: widen the range around it
        low, high = (low / 2, high * 2) if low > 0 else (low - 1, high + 1)
    log_spaced = wants_log_scale(low, high)
    edges = (
        np.geomspace(low, high, num_bins + 1)
        if log_spaced
        else np.linspace(low, high, num_bins + 1)
    )
    return KappaHistogram(
        edges=edges.tolist(),
        log_spaced=log_spaced,
        counts={name: np.histogram(v, bins=edges)[0].tolist() for name, v in kappas.items()},
    )


# kappa whose 5 %-95 % range is below this share of its median tells images apart by less than
# the noise of one training step: eval and embed warn that it carries no per-image information.
MIN_RELATIVE_SPREAD = 0.05


def kappa_spread(kappa: np.ndarray) -> KappaSpread:
    """5 % and 95 % quantiles, the median, their relative range (q95 - q05) / median, and
    whether that range reaches MIN_RELATIVE_SPREAD ("informative")."""
    q05, median, q95 = (
        float(q) for q in np.quantile(np.asarray(kappa, np.float64), [0.05, 0.5, 0.95])
    )
    relative = (q95 - q05) / median if median > 0 else float("inf")
    return KappaSpread(
        q05=q05,
        median=median,
        q95=q95,
        relative_range=relative,
        informative=bool(relative >= MIN_RELATIVE_SPREAD),
    )


def spread_warning(spread: KappaSpread, images: str) -> str | None:
    """One line saying that kappa on `images` carries no per-image information, naming the
    likely cause and what to use instead; None when its spread is informative."""
    if spread.informative:
        return None
    return (
        f"kappa carries no per-image information on {images}: its 5 %-95 % range "
        f"{spread.q05:.5g}-{spread.q95:.5g} is {100 * spread.relative_range:.2g} % of "
        f"its median {spread.median:.5g} (under {100 * MIN_RELATIVE_SPREAD:.0f} %); likely "
        "causes: a head that learned only how strongly a training view was augmented (every "
        "clean image is an equally mild view), or too little training (docs/method.md "
        "section 4); rank images by the kNN density scores instead"
    )
