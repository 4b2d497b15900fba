"""Rank-based metrics of a score against an outcome: Spearman's rho and AUROC.

Both work on average ranks, so tied values share their mean rank; for AUROC that makes a
tied (positive, negative) pair count 1/2, the Mann-Whitney convention.
"""

from __future__ import annotations

import math

import numpy as np


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of a 1-D array, tied values sharing their mean rank (float64 [N])."""
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"average_ranks takes a 1-D array, got shape {values.shape}")
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    # Start of each run of equal values in sorted order, and one past the end of the last.
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    ends = np.r_[starts[1:], len(values)]
    # A run occupying sorted positions [s, e) holds ranks s+1 .. e, whose mean is (s + e + 1) / 2.
    run_ranks = (starts + ends + 1) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(run_ranks, ends - starts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks.

    NaN when either input is constant (the correlation is undefined there).
    """
    x, y = _paired(x, y, "spearman")
    rx = average_ranks(x) - (len(x) + 1) / 2.0
    ry = average_ranks(y) - (len(y) + 1) / 2.0
    denominator = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if denominator == 0.0:
        return math.nan
    return float(rx @ ry) / denominator


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count 1/2).

    `positive` is boolean. NaN when either class is empty (the AUROC is undefined there).
    """
    scores, positive = _paired(scores, positive, "auroc")
    positive = positive.astype(bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    # Mann-Whitney U of the positives, normalised by the number of pairs.
    rank_sum = float(average_ranks(scores)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _paired(a: np.ndarray, b: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a).ravel(), np.asarray(b).ravel()
    if len(a) != len(b):
        raise ValueError(f"{name}: inputs differ in length ({len(a)} vs {len(b)})")
    if len(a) < 2:
        raise ValueError(f"{name}: needs at least 2 samples, got {len(a)}")
    return a, b
