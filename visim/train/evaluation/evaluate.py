"""`visim eval` from start to end: features, classification, kappa analysis, eval.json, plots.

RUN_DIR/eval/eval.json          every number (accuracies as fractions, not percentages)
RUN_DIR/eval/*.png              the plots, with the `plots` extra
RUN_DIR/eval/cache/*.pt         frozen features per weights variant, dataset and split
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from visim.pipeline.backends import make_loader
from visim.pipeline.loader_spec import LoaderSpec
from visim.pipeline.loader_workers import default_loader_workers
from visim.pipeline.sources import ImageSource, SourceError, open_split
from visim.train.atomic_write import write_text_atomically
from visim.train.evaluation import plots
from visim.train.evaluation.classification import classify
from visim.train.evaluation.eval_settings import EvalSettings
from visim.train.evaluation.feature_store import FeatureStore
from visim.train.evaluation.features import kappa_of_views
from visim.train.evaluation.kappa_plots import write_kappa_plots
from visim.train.evaluation.kappa_report import extreme_images, kappa_report
from visim.train.evaluation.run_loading import EvalError, EvaluatedRun, open_run

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


def open_eval_source(option: str, location: str, split: str, preferred: str) -> ImageSource:
    """The data of `option`; split auto means `preferred` where the source has splits."""
    try:
        return open_split(location, split, preferred)
    except SourceError as error:
        raise EvalError(f"{option} {location}: {error}") from None


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
    sources = {
        "train": open_eval_source("--train", settings.train, settings.train_split, "train"),
        "test": open_eval_source("--test", settings.test, settings.test_split, "test"),
    }
    check_same_classes(sources["train"], sources["test"])
    if settings.ood:
        sources["ood"] = open_eval_source("--ood", settings.ood, settings.ood_split, "test")
    device = resolve_device(settings.device)
    if settings.workers is None:  # the machine's default, as for training
        settings = dataclasses.replace(settings, workers=default_loader_workers(device.type))
    warnings = [f"skipped weights {line}" for line in run.passed_over]
    if same_images(sources["train"], sources["test"]):
        warnings.append(
            f"--test is the same images as --train ({sources['test'].location}, split "
            f"{sources['test'].split}): the accuracies measure fit, not generalisation"
        )
    make_plots = settings.plots
    if make_plots:
        try:
            plots.check_plots_available()
        except plots.MissingPlotsExtra:
            warnings.append(f"no plots: matplotlib is missing; run: {plots.PLOTS_HINT}")
            make_plots = False
    if settings.ood and not run.has_kappa:
        warnings.append("--ood ignored: a SimSiam run has no kappa to score images with")

    store = FeatureStore(run, settings, device, log)
    models = {"pretrained": run.pretrained_model(), "random_init": run.random_model()}
    results, test_features, probe_correct = {}, {}, {}
    for variant in VARIANTS:
        model = models[variant].to(device)
        train = store.features(variant, model, sources["train"], "train")
        test_features[variant] = store.features(variant, model, sources["test"], "test")
        log(f"kNN and linear probe: {variant} weights")
        results[variant], probe_correct[variant] = classify(
            train,
            test_features[variant],
            len(sources["train"].classes),
            knn_k=settings.knn_k,
            knn_temperature=settings.knn_temperature,
            probe_weight_decay=settings.probe_weight_decay,
            probe_max_iter=settings.probe_max_iter,
            device=device,
        )

    report = {
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
        "kappa": None,
        "plots": [],
        "warnings": warnings,
    }
    if run.has_kappa:
        pretrained = models["pretrained"]
        test = test_features["pretrained"]
        kappas = {"clean": test["kappa"].numpy()}
        if settings.augmented_images:
            log(f"kappa of augmented views: up to {settings.augmented_images} test images")
            kappas["augmented"] = augmented_kappa(run, settings, sources["test"], pretrained)
        if "ood" in sources:
            ood = store.features("pretrained", pretrained, sources["ood"], "ood")
            kappas["ood"] = ood["kappa"].numpy()
        correct = probe_correct["pretrained"]
        report["kappa"] = kappa_report(kappas, correct.numpy(), settings.kappa_bins)
        report["kappa"]["extremes"] = extreme_images(
            test, correct, sources["test"], settings.grid_images
        )
    report["feature_cache_hits"] = store.cache_hits

    eval_dir = run.run_dir.path / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    if make_plots and report["kappa"] is not None:
        report["plots"] = write_kappa_plots(report, sources["test"], run, eval_dir)
    write_text_atomically(eval_dir / "eval.json", json.dumps(json_ready(report), indent=2) + "\n")
    return report


def augmented_kappa(
    run: EvaluatedRun, settings: EvalSettings, test: ImageSource, model: torch.nn.Module
) -> np.ndarray:
    """kappa of both augmented views (training recipe) of a random subset of test images."""
    batch_size = min(settings.batch_size, len(test))
    device = next(model.parameters()).device
    spec = LoaderSpec(
        source=settings.test,
        recipe=run.config.recipe,
        batch_size=batch_size,
        device=device,
        seed=run.config.runtime.seed,
        workers=settings.workers,
        split=test.split,
        shuffle=True,  # the first batches of a shuffled order are a fair sample
        channels_last=run.config.model.channels_last,
    )
    loader = make_loader("torch", spec)
    loader.set_epoch(0)
    batches = math.ceil(min(settings.augmented_images, len(test)) / batch_size)
    views = (view for batch in itertools.islice(loader, batches) for view in batch[:2])
    return kappa_of_views(model, views).numpy()


def json_ready(value):
    """NaN (an undefined correlation or AUROC) as null: JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value
