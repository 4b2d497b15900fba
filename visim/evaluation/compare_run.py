"""`visim eval --compare RUN`: another run's label-free scores on the same images.

Given a SimSiam run of the same budget, this isolates what kappa adds from what the encoder
gives anyway: the compare run's own features, its own kNN and probe, and its label-free scores
(uncertainty_scores.LABEL_FREE) measured by every metric on the same train, test, out and
degraded images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from visim.evaluation.classification import classify_as_set
from visim.evaluation.eval_report import CompareRun
from visim.evaluation.eval_settings import EvalError, EvalSettings
from visim.evaluation.feature_cache import FeatureStore
from visim.evaluation.run_loading import EvaluatedRun, open_run
from visim.evaluation.uncertainty_metrics import recall_at_one
from visim.evaluation.uncertainty_report import degraded_features, measure_uncertainty
from visim.evaluation.uncertainty_scores import LABEL_FREE
from visim.pipeline.sources.base import ImageSource


def open_compare_run(path: Path) -> EvaluatedRun:
    """The --compare run, or EvalError naming the option (checked before any work)."""
    try:
        return open_run(path)
    except EvalError as error:
        raise EvalError(f"--compare {path}: {error}") from None


def compare_section(
    run: EvaluatedRun,
    settings: EvalSettings,
    sources: dict[str, ImageSource],
    device: torch.device,
    workers: int,
    log: Callable[[str], None],
) -> CompareRun:
    """The compare run's accuracies and label-free scores; its features are cached in that
    run's eval/cache."""
    log(f"compare run {run.run_dir.path}: {run.config.model.method}, weights {run.weights.name}")
    store = FeatureStore(run, settings.batch_size, device, workers, log)
    model = run.pretrained_model().to(device)
    features = {
        role: store.features("pretrained", model, source, f"compare {role}")
        for role, source in sources.items()
    }
    results, probe_correct, probe = classify_as_set(
        features["train"], features["test"], len(sources["train"].classes), settings, device
    )
    r_at_1, neighbour_correct = recall_at_one(
        features["test"]["features"], features["test"]["labels"]
    )
    degraded = degraded_features(
        run, model, sources["test"], features["test"], settings.degraded_images,
        batch_size=settings.batch_size, device=device, workers=workers, log=log,
    )  # fmt: skip
    correct = {"neighbour": neighbour_correct, "probe": probe_correct.numpy()}
    return CompareRun(
        run_dir=str(run.run_dir.path),
        method=run.config.model.method,
        weights=str(run.weights),
        results=results,
        r_at_1=r_at_1,
        **measure_uncertainty(features, degraded, probe, correct, only=LABEL_FREE),
    )
