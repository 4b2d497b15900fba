"""`visim eval` from start to end: features, classification, kappa analysis, eval.json, plots.

RUN_DIR/eval/eval.json          every number (accuracies as fractions, not percentages)
RUN_DIR/eval/*.png              the plots, with the `plots` extra
RUN_DIR/eval/cache/*.pt         frozen features per weights variant, dataset and split
RUN_DIR/logs/                   with --log-with (or the run's tracker): eval_tracking.py
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from visim.core import figures
from visim.core.atomic_write import write_text_atomically
from visim.evaluation.classification import classify_as_set
from visim.evaluation.compare_run import compare_section, open_compare_run
from visim.evaluation.eval_report import (
    Accuracy,
    DataUsed,
    EvalReport,
    KappaReadoutUsed,
    KappaSection,
    Uncertainty,
    to_json,
)
from visim.evaluation.eval_settings import KAPPA_READOUTS, EvalSettings
from visim.evaluation.eval_tracking import eval_tracker, log_eval
from visim.evaluation.feature_cache import FeatureStore
from visim.evaluation.kappa_analysis import spread_warning
from visim.evaluation.kappa_plots import write_kappa_plots
from visim.evaluation.kappa_readout import KappaReader
from visim.evaluation.kappa_report import extreme_images, kappa_report
from visim.evaluation.linear_probe import LinearProbe
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


@dataclass(frozen=True)
class EvalInputs:
    """Everything evaluate_run checked before its first expensive step."""

    run: EvaluatedRun
    settings: EvalSettings  # the loader workers resolved
    sources: dict[str, ImageSource]  # by role: train, test, and ood with --ood
    compare: EvaluatedRun | None
    device: torch.device
    tracker: str
    make_plots: bool
    warnings: list[str]


def open_inputs(run_dir: Path, settings: EvalSettings) -> EvalInputs:
    """The run, its data and the options, each checked (EvalError naming the argument at
    fault); warnings for what is allowed but worth a word."""
    run = open_run(run_dir, settings.checkpoint)
    warnings = [f"skipped weights {line}" for line in run.passed_over]
    roles = [("train", settings.train, settings.train_split, "train")]
    roles.append(("test", settings.test, settings.test_split, "test"))
    if settings.ood:
        roles.append(("ood", settings.ood, settings.ood_split, "test"))
    sources = {
        role: open_eval_source(f"--{role}", location, split, preferred, warnings.append)
        for role, location, split, preferred in roles
    }
    check_same_classes(sources["train"], sources["test"])
    compare = None if settings.compare is None else open_compare_run(settings.compare)
    device = resolve_device(settings.device)
    tracker = eval_tracker(settings.log_with, run)
    # The eval loader is torch's; without --workers, the machine's default, as for training.
    workers = resolve_loader_workers(settings.workers, "torch", device.type)
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
    return EvalInputs(
        run=run,
        settings=dataclasses.replace(settings, workers=workers),
        sources=sources,
        compare=compare,
        device=device,
        tracker=tracker,
        make_plots=make_plots,
        warnings=warnings,
    )


@dataclass(frozen=True)
class Classified:
    """Both weight variants' features, accuracies, and the probes fitted on them."""

    features: dict[str, dict[str, dict]]  # variant -> role -> extract_features' dict
    results: dict[str, Accuracy]
    probe_correct: dict[str, torch.Tensor]  # bool [N_test] per variant
    probes: dict[str, LinearProbe]


def classify_variants(
    inputs: EvalInputs,
    store: FeatureStore,
    models: dict[str, SiameseModel],
    log: Callable[[str], None],
) -> Classified:
    """kNN and linear probe of the pre-trained and the random-init weights."""
    classified = Classified({}, {}, {}, {})
    for variant in VARIANTS:
        model = models[variant].to(inputs.device)
        features = {
            role: store.features(variant, model, inputs.sources[role], role)
            for role in ("train", "test")
        }
        log(f"kNN and linear probe: {variant} weights")
        results, probe_correct, probe = classify_as_set(
            features["train"],
            features["test"],
            len(inputs.sources["train"].classes),
            inputs.settings,
            inputs.device,
        )
        classified.features[variant] = features
        classified.results[variant] = results
        classified.probe_correct[variant] = probe_correct
        classified.probes[variant] = probe
    return classified


def evaluate_run(
    run_dir: Path, settings: EvalSettings, log: Callable[[str], None] = lambda message: None
) -> EvalReport:
    """Evaluate the run at `run_dir`, write RUN_DIR/eval/eval.json (and plots), return the report.

    Raises EvalError, with a one-line message naming the argument at fault, before any
    expensive work when the run, the data or the options cannot be evaluated.
    """
    inputs = open_inputs(run_dir, settings)
    run, settings, sources = inputs.run, inputs.settings, inputs.sources
    warnings = list(inputs.warnings)
    workers = settings.workers
    assert workers is not None  # open_inputs resolved it
    store = FeatureStore(run, settings.batch_size, inputs.device, workers, log)
    models = {"pretrained": run.pretrained_model(), "random_init": run.random_model()}
    classified = classify_variants(inputs, store, models, log)
    pretrained = classified.features["pretrained"]
    if "ood" in sources:
        model = models["pretrained"]
        pretrained["ood"] = store.features("pretrained", model, sources["ood"], "ood")
    r_at_1, neighbour_correct = recall_at_one(
        pretrained["test"]["features"], pretrained["test"]["labels"]
    )
    correct = {
        "neighbour": neighbour_correct,
        "probe": classified.probe_correct["pretrained"].numpy(),
    }
    degraded = degraded_features(
        run, models["pretrained"], sources["test"], pretrained["test"], settings.degraded_images,
        batch_size=settings.batch_size, device=inputs.device, workers=workers, log=log,
    )  # fmt: skip

    kappa: KappaSection | None = None
    kappas: dict[str, np.ndarray] = {}  # every kappa set the report describes, for a tracker
    kappa_scores = None
    if run.has_kappa:
        kappa, kappas, kappa_scores = kappa_section(
            run, settings, workers, models["pretrained"], sources, pretrained, correct, log
        )
        warning = spread_warning(kappa.spread, "the clean test images")
        if warning is not None:
            warnings.append(warning)
    measured = measure_uncertainty(
        pretrained, degraded, classified.probes["pretrained"], correct, kappa_scores
    )
    compared = None
    if inputs.compare is not None:
        compared = compare_section(inputs.compare, settings, sources, inputs.device, workers, log)
    eval_dir = run.run_dir.path / "eval"
    eval_dir.mkdir(parents=True, exist_ok=True)
    report = EvalReport(
        run_dir=str(run.run_dir.path),
        weights=str(run.weights),
        method=run.config.model.method,
        arch=run.config.model.arch,
        device=str(inputs.device),
        data={role: data_used(source) for role, source in sources.items()},
        settings={**dataclasses.asdict(settings), "checkpoint": str(run.weights)},
        results=classified.results,
        uncertainty=Uncertainty(r_at_1=r_at_1, **measured, compare=compared),
        kappa=kappa,
        tracker=inputs.tracker,
        plots=[],
        warnings=warnings,
        feature_cache_hits=store.cache_hits,
    )
    if inputs.make_plots and kappa is not None:
        plots = write_kappa_plots(report, sources["test"], run, eval_dir)
        report = dataclasses.replace(report, plots=plots)
    write_text_atomically(eval_dir / "eval.json", to_json(report))
    if inputs.tracker != "none":
        log(f"results to the {inputs.tracker} tracker")
        log_eval(inputs.tracker, run, report, kappas, eval_dir / "eval.json")
    return report


def data_used(source: ImageSource) -> DataUsed:
    return DataUsed(
        location=source.location,
        split=source.split,
        images=len(source),
        classes=len(source.classes),
    )


def kappa_section(
    run: EvaluatedRun,
    settings: EvalSettings,
    workers: int,
    model: SiameseModel,
    sources: dict[str, ImageSource],
    pretrained: dict[str, dict],
    correct: dict[str, np.ndarray],
    log: Callable[[str], None],
) -> tuple[KappaSection, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The kappa section of the report (the readout's analysis (kappa_report), its spread on
    the test images, the ranking metrics of every readout the evaluation drew, the extreme
    images), the kappa sets it was made from, and the readout's kappa of the test and out
    images ("test", "ood")."""
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
    scores = {"test": test_read[settings.kappa_readout]}
    if ood_read is not None:
        scores["ood"] = ood_read[settings.kappa_readout]
    section = kappa_report(
        kappas,
        correct["probe"],
        settings.kappa_bins,
        readout=KappaReadoutUsed(method=settings.kappa_readout, views=settings.kappa_views),
        by_readout=by_readout,
        extremes=extreme_images(
            {**pretrained["test"], "kappa": torch.from_numpy(scores["test"])},
            correct["probe"],
            sources["test"],
            settings.grid_images,
        ),
    )
    return section, kappas, scores
