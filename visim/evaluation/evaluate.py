"""`visim eval` from start to end: features, classification, kappa analysis, eval.json, plots.

RUN_DIR/eval/eval.json          every number (accuracies as fractions, not percentages)
RUN_DIR/eval/*.png              the plots, with the `plots` extra
RUN_DIR/eval/cache/*.pt         frozen features per weights variant, dataset and split
RUN_DIR/logs/                   with --log-with (or the run's tracker): eval_tracking.py
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visim.core import figures
from visim.core.atomic_write import write_text_atomically
from visim.evaluation.classification import classify_as_set
from visim.evaluation.compare_run import compare_section, open_compare_run
from visim.evaluation.eval_settings import KAPPA_READOUTS, EvalSettings
from visim.evaluation.eval_tracking import eval_tracker, log_eval
from visim.evaluation.feature_cache import FeatureStore
from visim.evaluation.kappa_analysis import kappa_spread, spread_warning
from visim.evaluation.kappa_plots import write_kappa_plots
from visim.evaluation.kappa_readout import KappaReader
from visim.evaluation.kappa_report import extreme_images, kappa_report
from visim.evaluation.run_loading import EvalError, EvaluatedRun, open_run
from visim.evaluation.uncertainty_metrics import recall_at_one, score_metrics
from visim.evaluation.uncertainty_report import degraded_features, measure_uncertainty
from visim.evaluation.uncertainty_scores import kappa_uncertainty
from visim.models.siamese import SiameseModel
from visim.pipeline.backends.loader_workers import resolve_loader_workers
from visim.pipeline.sources.base import ImageSource, SourceError
from visim.pipeline.sources.beton_check import verify_before_use
from visim.pipeline.sources.factory import open_split

VARIANTS = ("pretrained", "random_init")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EvalError(f"--device {name!r}: not a device name (auto, cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvalError(f"--device {name}: CUDA is not available here")
    return device


def open_eval_source(
    option: str, location: str, split: str, preferred: str, warn: Callable[[str], None]
) -> ImageSource:
    """The data of `option`; split auto means `preferred` where the source has splits. A
    .beton is checked first as `visim check` does (`warn` gets the line saying when its
    content was not verified)."""
    try:
        if location.endswith(".beton") and Path(location).is_file():
            verify_before_use(Path(location), option, warn)
        return open_split(location, split, preferred)
    except SourceError as error:
        # Most messages name the file already: it is named once.
        named = str(error).startswith(location)
        raise EvalError(f"{option} {error}" if named else f"{option} {location}: {error}") from None


def same_images(first: ImageSource, second: ImageSource) -> bool:
    return (first.location, first.split) == (second.location, second.split)


def check_same_classes(train: ImageSource, test: ImageSource) -> None:
    """Probe and kNN answer with train-set labels: the test labels must mean the same classes."""
    if train.classes == test.classes:
        return
    only_train = sorted(set(train.classes) - set(test.classes))
    only_test = sorted(set(test.classes) - set(train.classes))
    if only_train or only_test:
        difference = f"only in --train: {only_train[:5]}; only in --test: {only_test[:5]}"
    else:
        difference = "the same names in a different label order"
    raise EvalError(
        f"--test {test.location}: its {len(test.classes)} classes differ from the "
        f"{len(train.classes)} of --train {train.location} ({difference})"
    )


def evaluate_run(
    run_dir: Path, settings: EvalSettings, log: Callable[[str], None] = lambda message: None
) -> dict:
    """Evaluate the run at `run_dir`, write RUN_DIR/eval/eval.json (and plots), return the report.

    Raises EvalError, with a one-line message naming the argument at fault, before any
    expensive work when the run, the data or the options cannot be evaluated.
    """
    run = open_run(run_dir, settings.checkpoint)
    warnings = [f"skipped weights {line}" for line in run.passed_over]
    sources = {
        "train": open_eval_source(
            "--train", settings.train, settings.train_split, "train", warnings.append
        ),
        "test": open_eval_source(
            "--test", settings.test, settings.test_split, "test", warnings.append
        ),
    }
    check_same_classes(sources["train"], sources["test"])
    compare = None if settings.compare is None else open_compare_run(settings.compare)
    if settings.ood:
        sources["ood"] = open_eval_source(
            "--ood", settings.ood, settings.ood_split, "test", warnings.append
        )
    device = resolve_device(settings.device)
    tracker = eval_tracker(settings.log_with, run)
    # The eval loader is torch's; without --workers, the machine's default, as for training.
    workers = resolve_loader_workers(settings.workers, "torch", device.type)
    settings = dataclasses.replace(settings, workers=workers)
    if same_images(sources["train"], sources["test"]):
        warnings.append(
            f"--test is the same images as --train ({sources['test'].location}, split "
            f"{sources['test'].split}): the accuracies measure fit, not generalisation"
        )
    make_plots = settings.plots
    if make_plots:
        try:
            figures.check_plots_available()
        except figures.MissingPlotsExtra as error:
            warnings.append(f"no plots: {error}")
            make_plots = False

    store = FeatureStore(run, settings.batch_size, device, workers, log)
    models = {"pretrained": run.pretrained_model(), "random_init": run.random_model()}
    results, features, probe_correct, probes = {}, {}, {}, {}
    for variant in VARIANTS:
        model = models[variant].to(device)
        features[variant] = {
            "train": store.features(variant, model, sources["train"], "train"),
            "test": store.features(variant, model, sources["test"], "test"),
        }
        log(f"kNN and linear probe: {variant} weights")
        results[variant], probe_correct[variant], probes[variant] = classify_as_set(
            features[variant]["train"],
            features[variant]["test"],
            len(sources["train"].classes),
            settings,
            device,
        )
    pretrained = features["pretrained"]
    if "ood" in sources:
        pretrained["ood"] = store.features(
            "pretrained", models["pretrained"], sources["ood"], "ood"
        )
    r_at_1, neighbour_correct = recall_at_one(
        pretrained["test"]["features"], pretrained["test"]["labels"]
    )
    correct = {"neighbour": neighbour_correct, "probe": probe_correct["pretrained"].numpy()}
    degraded = degraded_features(
        run, models["pretrained"], sources["test"], pretrained["test"], settings.degraded_images,
        batch_size=settings.batch_size, device=device, workers=workers, log=log,
    )  # fmt: skip

    report: dict[str, Any] = {
        "run_dir": str(run.run_dir.path),
        "weights": str(run.weights),
        "method": run.config.model.method,
        "arch": run.config.model.arch,
        "device": str(device),
        "data": {
            role: {
                "location": source.location,
                "split": source.split,
                "images": len(source),
                "classes": len(source.classes),
            }
            for role, source in sources.items()
        },
        "settings": {**dataclasses.asdict(settings), "checkpoint": str(run.weights)},
        "results": results,
        "uncertainty": None,
        "kappa": None,
        "tracker": tracker,
        "plots": [],
        "warnings": warnings,
    }
    kappas: dict[str, np.ndarray] = {}  # every kappa set the report describes, for a tracker
    kappa_scores = None
    if run.has_kappa:
        report["kappa"], kappas, kappa_scores = kappa_section(
            run, settings, workers, models["pretrained"], sources, pretrained, correct, log
        )
        report["kappa"]["extremes"] = extreme_images(
            {**pretrained["test"], "kappa": torch.from_numpy(kappa_scores["test"])},
            probe_correct["pretrained"],
            sources["test"],
            settings.grid_images,
        )
        warning = spread_warning(report["kappa"]["spread"], "the clean test images")
        if warning is not None:
            warnings.append(warning)
    report["uncertainty"] = {
        "r_at_1": r_at_1,
        **measure_uncertainty(pretrained, degraded, probes["pretrained"], correct, kappa_scores),
        "compare": (
            None
            if compare is None
            else compare_section(compare, settings, sources, device, workers, log)
        ),
    }
    report["feature_cache_hits"] = store.cache_hits

    eval_dir = run.run_dir.path / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    if make_plots and report["kappa"] is not None:
        report["plots"] = write_kappa_plots(report, sources["test"], run, eval_dir)
    written = json_ready(report)
    write_text_atomically(eval_dir / "eval.json", json.dumps(written, indent=2) + "\n")
    if tracker != "none":
        log(f"results to the {tracker} tracker")
        log_eval(tracker, run, written, kappas, eval_dir / "eval.json")
    return report


def kappa_section(
    run: EvaluatedRun,
    settings: EvalSettings,
    workers: int,
    model: SiameseModel,
    sources: dict[str, ImageSource],
    pretrained: dict[str, dict],
    correct: dict[str, np.ndarray],
    log: Callable[[str], None],
) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The kappa section of the report (the readout's analysis (kappa_report), its spread on
    the test images, and the ranking metrics of every readout the evaluation drew), the kappa
    sets it was made from, and the readout's kappa of the test and out images ("test", "ood")."""
    reader = KappaReader(
        run, model, settings.kappa_readout, settings.kappa_views, settings.batch_size,
        workers, log,
    )  # fmt: skip
    test_read = reader.scores(sources["test"], pretrained["test"])
    ood_read = reader.scores(sources["ood"], pretrained["ood"]) if "ood" in sources else None
    kappas = {"clean": test_read["center"]}
    if settings.augmented_images:
        kappas["augmented"] = reader.augmented_sample(
            sources["test"], pretrained["test"], test_read, settings.augmented_images
        )
    if ood_read is not None:
        kappas["ood"] = ood_read["center"]
    if settings.kappa_readout != "center":
        kappas["readout"] = test_read[settings.kappa_readout]
        if ood_read is not None:
            kappas["ood_readout"] = ood_read[settings.kappa_readout]
    readouts = [name for name in KAPPA_READOUTS if name in test_read]
    by_readout = {
        name: score_metrics(
            kappa_uncertainty(test_read[name]),
            correct["neighbour"],
            correct["probe"],
            None if ood_read is None else kappa_uncertainty(ood_read[name]),
        )
        for name in readouts
    }
    section = {
        "readout": {"method": settings.kappa_readout, "views": settings.kappa_views},
        **kappa_report(kappas, correct["probe"], settings.kappa_bins),
        "spread": kappa_spread(test_read[settings.kappa_readout]),
        "by_readout": by_readout,
    }
    scores = {"test": test_read[settings.kappa_readout]}
    if ood_read is not None:
        scores["ood"] = ood_read[settings.kappa_readout]
    return section, kappas, scores


def json_ready(value):
    """NaN (an undefined correlation or AUROC) as null: JSON has no NaN; paths as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value
