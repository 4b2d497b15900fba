"""The "uncertainty" section of eval.json: every score (uncertainty_scores.py) of one run's
encoder, measured by every metric (uncertainty_metrics.py) on the same images.

The degraded-image check runs on a fixed subset of the readable test images (the first
`count` of a permutation seeded by DEGRADED_SUBSET_SEED), the same for every run, so a run and
its --compare run are measured on the same images.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from visim.evaluation.eval_report import ScoreReport
from visim.evaluation.features import source_features
from visim.evaluation.linear_probe import LinearProbe
from visim.evaluation.run_loading import EvaluatedRun
from visim.evaluation.uncertainty_metrics import score_metrics
from visim.evaluation.uncertainty_scores import (
    SOURCES,
    encoder_scorer,
    kappa_uncertainty,
)
from visim.models.siamese import SiameseModel
from visim.pipeline.augment.degradations import DEGRADATIONS
from visim.pipeline.sources.base import ImageSource

DEGRADED_SUBSET_SEED = 0


def degraded_features(
    run: EvaluatedRun,
    model: SiameseModel,
    source: ImageSource,
    test: dict[str, torch.Tensor],
    count: int,
    *,
    batch_size: int,
    device: torch.device,
    workers: int,
    log: Callable[[str], None],
) -> dict[str, dict[str, torch.Tensor]]:
    """{"cropped" | "blurred": source_features of those versions of up to `count` readable test
    images} (with kappa for a VI-SimSiam run); {} when count is 0."""
    if count == 0:
        return {}
    readable = test["indices"].numpy()
    chosen = np.random.default_rng(DEGRADED_SUBSET_SEED).permutation(len(readable))[:count]
    indices = np.sort(readable[chosen]).tolist()
    found = {}
    for kind in DEGRADATIONS:
        log(f"features: {kind} versions of {len(indices)} test images")
        found[kind] = source_features(
            run, model, source, batch_size=batch_size, device=device, workers=workers,
            with_kappa=run.has_kappa, degradation=kind, indices=indices,
        )  # fmt: skip
    return found


def positions_of(test_indices: torch.Tensor, subset_indices: torch.Tensor) -> np.ndarray:
    """Where each source index of `subset_indices` sits in `test_indices` (int [n])."""
    where = {int(index): position for position, index in enumerate(test_indices.tolist())}
    return np.array([where[int(index)] for index in subset_indices.tolist()], dtype=np.int64)


def encoder_uncertainty(
    features: dict[str, dict[str, torch.Tensor]],
    degraded: dict[str, dict[str, torch.Tensor]],
    probe: LinearProbe,
    correct: dict[str, np.ndarray],
    kappa: dict[str, np.ndarray] | None = None,
    only: tuple[str, ...] | None = None,
) -> dict[str, ScoreReport]:
    """{score name: its metrics and source} of one encoder.

    features: extract_features' dicts by role ("train", "test", optionally "ood");
    degraded: degraded_features' dict; correct: bool [N_test] per outcome, "neighbour"
    (recall_at_one's) and "probe"; kappa: the readout's kappa of the test ("test") and out
    ("ood") images, for a VI-SimSiam run; only: the names to keep.
    """
    scorer = encoder_scorer(features["train"]["features"], probe)

    def scores_of(role_features: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
        return scorer(role_features["features"])

    test = scores_of(features["test"])
    ood = scores_of(features["ood"]) if "ood" in features else None
    changed = {kind: scores_of(found) for kind, found in degraded.items()}
    positions = {
        kind: positions_of(features["test"]["indices"], found["indices"])
        for kind, found in degraded.items()
    }
    # The side of each degraded pair the original images give: the score itself, except for
    # kappa, whose degraded check always compares centre crops (the degraded side is one),
    # whatever the readout.
    originals = dict(test)
    if kappa is not None:
        test["kappa"] = kappa_uncertainty(kappa["test"])
        originals["kappa"] = kappa_uncertainty(features["test"]["kappa"].numpy())
        if ood is not None and "ood" in kappa:
            ood["kappa"] = kappa_uncertainty(kappa["ood"])
        for kind, found in degraded.items():
            changed[kind]["kappa"] = kappa_uncertainty(found["kappa"].numpy())
    report = {}
    for name in SOURCES:  # kappa first, then the label-free scores, the supervised one last
        if name not in test or (only is not None and name not in only):
            continue
        original = originals[name]
        metrics = score_metrics(
            test[name],
            correct["neighbour"],
            correct["probe"],
            None if ood is None or name not in ood else ood[name],
            {kind: (original[positions[kind]], changed[kind][name]) for kind in degraded},
        )
        report[name] = ScoreReport(**dataclasses.asdict(metrics), source=SOURCES[name])
    return report


def measure_uncertainty(
    features: dict[str, dict[str, torch.Tensor]],
    degraded: dict[str, dict[str, torch.Tensor]],
    probe: LinearProbe,
    correct: dict[str, np.ndarray],
    kappa: dict[str, np.ndarray] | None = None,
    only: tuple[str, ...] | None = None,
) -> dict:
    """The fields of eval_report.ScoredEncoder but R@1: "ood_images_per_side" (None without
    out images), "degraded_images", "scores" (encoder_uncertainty's, of the names in `only`):
    how many images each check saw, and what it found."""
    test_count = len(features["test"]["indices"])
    return {
        "ood_images_per_side": (
            min(test_count, len(features["ood"]["indices"])) if "ood" in features else None
        ),
        "degraded_images": len(next(iter(degraded.values()))["indices"]) if degraded else 0,
        "scores": encoder_uncertainty(features, degraded, probe, correct, kappa, only),
    }
