"""`visim eval`'s numbers in the run's experiment tracker (--log-with, default: the run's).

An "eval" run of the tracker project the pre-training logged to gets, at the training step
the weights come from: every accuracy (eval/<weights>/<classifier>/top1, ...), every
uncertainty score's metrics (eval/uncertainty/scores/<score>/r_auroc, ...), kappa's rank
correlations, spread and summaries (eval/kappa/spearman_*, eval/kappa/<set>/median, ...),
and the kappa histograms of the clean, augmented and OOD images as the tracker's own
histogram type (eval/kappa_histogram/<set>). MLflow has none: it gets eval.json, which holds
them, as an artifact.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visim.evaluation.eval_report import EvalReport, KappaHistogram, json_ready
from visim.evaluation.run_loading import EvalError, EvaluatedRun
from visim.train.checkpoint import checkpoint_step
from visim.train.config import config_to_dict
from visim.train.tracker_extras import TrackerUnavailable, require_tracker
from visim.train.tracking import scalars, start_tracker


def eval_tracker(log_with: str | None, run: EvaluatedRun) -> str:
    """The tracker eval logs to ("none" for no tracker); EvalError when it is not installed."""
    name = run.config.runtime.log_with if log_with is None else log_with
    if name != "none":
        try:
            require_tracker(name)
        except TrackerUnavailable as error:
            raise EvalError(str(error)) from None
    return name


def weights_step(run: EvaluatedRun) -> int | None:
    """The training step the evaluated weights are from.

    A checkpoint says so in its name; the export is written right after the last checkpoint.
    """
    step = checkpoint_step(run.weights)
    if step is None and run.weights == run.run_dir.model:
        latest = run.run_dir.latest_checkpoint()
        step = checkpoint_step(latest) if latest else None
    return step


def log_eval(
    name: str,
    run: EvaluatedRun,
    report: EvalReport,
    kappas: dict[str, np.ndarray],
    eval_json: Path,
) -> None:
    """Log an eval report (and the kappa arrays it was made from) to tracker `name`."""
    settings = {k: v for k, v in json_ready(report.settings).items() if v is not None}
    config = {**config_to_dict(run.config), "eval": settings}
    tracker = start_tracker(name, run.run_dir, "eval", config)
    step = weights_step(run)
    try:
        # json_ready: the report's parts as the nested dicts of eval.json, NaN left out.
        values = scalars(json_ready(report.results), "eval/")
        # eval/uncertainty/r_at_1, eval/uncertainty/scores/<score>/<metric>, and the compare
        # run's under eval/uncertainty/compare/.
        values.update(scalars(json_ready(report.uncertainty), "eval/uncertainty/"))
        kappa = report.kappa
        if kappa is not None:
            values.update(scalars(json_ready(kappa.vs_probe_correctness), "eval/kappa/"))
            values.update(scalars(json_ready(kappa.summary), "eval/kappa/"))
            values.update(scalars(json_ready(kappa.spread), "eval/kappa/spread/"))
        tracker.log(values, step=step)
        if kappa is not None:
            _log_histograms(name, tracker, kappas, kappa.histogram, step)
        if name == "mlflow":
            tracker.log_artifact(str(eval_json))
    finally:
        tracker.finish()


def _log_histograms(
    name: str, tracker, kappas: dict[str, np.ndarray], histogram: KappaHistogram, step
):
    """Each kappa set over eval.json's shared edges, as tracker `name` stores histograms."""
    edges = np.asarray(histogram.edges)
    for set_name, values in kappas.items():
        tag = f"eval/kappa_histogram/{set_name}"
        if name == "tensorboard":
            tracker.tracker.add_histogram(tag, np.asarray(values), step, bins=edges)
        elif name == "wandb":
            import wandb

            counts = np.asarray(histogram.counts[set_name])
            tracker.log({tag: wandb.Histogram(np_histogram=(counts, edges))}, step=step)
        elif name == "aim":
            import aim

            # Aim bins values itself, on a linear scale.
            distribution = aim.Distribution(np.asarray(values), bin_count=len(edges) - 1)
            tracker.tracker.track(distribution, name=tag, step=step)
