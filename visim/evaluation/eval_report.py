"""The report `visim eval` writes to RUN_DIR/eval/eval.json, as types.

The CLI's tables, the tracker logging, the plots, the demo and the benchmark scripts read a
report by attribute: a field renamed here is an error where it is read, not a silent None.
eval.json is `to_json(report)`, key for key these fields (accuracies as fractions, NaN as
null); `read_eval_report` reads it back. A new uncertainty metric is a field of
ScoreMetrics, the lines of score_metrics (uncertainty_metrics.py) that measure it, and its
column header in the CLI's table (cli/eval.py METRIC_COLUMNS).
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar


@dataclass(frozen=True)
class TopK:
    top1: float
    top5: float


@dataclass(frozen=True)
class Accuracy:
    """Both frozen-feature classifiers of one set of weights."""

    knn: TopK
    linear_probe: TopK


@dataclass(frozen=True)
class DataUsed:
    location: str
    split: str
    images: int
    classes: int


@dataclass(frozen=True)
class ScoreMetrics:
    """One uncertainty score measured as the URL benchmark does (uncertainty_metrics.py);
    None where the evaluation had no data for a metric (no --ood, no degraded images)."""

    r_auroc: float | None
    probe_auroc: float | None
    ood_auroc: float | None
    ood_fpr95: float | None
    cropped_higher: float | None
    blurred_higher: float | None


@dataclass(frozen=True)
class ScoreReport(ScoreMetrics):
    source: str  # what the score is computed from (uncertainty_scores.SOURCES)


@dataclass(frozen=True)
class ScoredEncoder:
    """Every uncertainty score of one encoder, and how many images each check saw."""

    r_at_1: float
    ood_images_per_side: int | None  # None without out-of-distribution images
    degraded_images: int
    scores: dict[str, ScoreReport]


@dataclass(frozen=True)
class CompareRun(ScoredEncoder):
    """The --compare run: its own accuracies and its label-free scores on the same images."""

    run_dir: str
    method: str
    weights: str
    results: Accuracy


@dataclass(frozen=True)
class Uncertainty(ScoredEncoder):
    compare: CompareRun | None


@dataclass(frozen=True)
class KappaSummary:
    count: int
    mean: float
    min: float
    q05: float
    q25: float
    median: float
    q75: float
    q95: float
    max: float


@dataclass(frozen=True)
class KappaBin:
    kappa_min: float
    kappa_max: float
    mean_kappa: float
    accuracy: float
    count: int


@dataclass(frozen=True)
class KappaCorrectness:
    bins: list[KappaBin]
    spearman_per_image: float | None  # None where undefined (one outcome, constant kappa)
    spearman_bins: float | None
    auroc_correct: float | None


@dataclass(frozen=True)
class KappaHistogram:
    edges: list[float]
    log_spaced: bool
    counts: dict[str, list[int]]


@dataclass(frozen=True)
class KappaSpread:
    q05: float
    median: float
    q95: float
    relative_range: float
    informative: bool


@dataclass(frozen=True)
class KappaReadoutUsed:
    method: str
    views: int


@dataclass(frozen=True)
class ExtremeImage:
    index: int
    item: str
    label: str
    kappa: float
    probe_correct: bool | None


@dataclass(frozen=True)
class KappaSection:
    readout: KappaReadoutUsed
    summary: dict[str, KappaSummary]
    vs_probe_correctness: KappaCorrectness
    histogram: KappaHistogram
    augmented_below_clean: bool | None
    spread: KappaSpread
    by_readout: dict[str, ScoreMetrics]
    extremes: dict[str, list[ExtremeImage]]


@dataclass(frozen=True)
class EvalReport:
    run_dir: str
    weights: str
    method: str
    arch: str
    device: str
    data: dict[str, DataUsed]  # by role: train, test, and ood with --ood
    settings: dict[str, Any]  # EvalSettings as given, the checkpoint resolved
    results: dict[str, Accuracy]  # pretrained, random_init
    uncertainty: Uncertainty
    kappa: KappaSection | None  # None for a SimSiam run
    tracker: str
    plots: list[str]
    warnings: list[str]
    feature_cache_hits: int


Typed = TypeVar("Typed")


def parse(cls: type[Typed], data: Any) -> Typed:
    """`data` (JSON-ready dicts and lists, as to_json writes them) as the dataclass `cls`; a
    missing or unexpected key raises ValueError naming it."""
    return _parse(cls, data, cls.__name__)


def _parse(kind: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        hints = typing.get_type_hints(kind)
        names = [field.name for field in dataclasses.fields(kind)]
        missing = [name for name in names if name not in data]
        unexpected = [key for key in data if key not in hints]
        if missing or unexpected:
            raise ValueError(f"{where}: missing {missing}, unexpected {unexpected}")
        fields = {name: _parse(hints[name], data[name], f"{where}.{name}") for name in names}
        return typing.cast(Any, kind)(**fields)  # is_dataclass narrows to an instance too
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if data is None and type(None) in options:
            return None
        (present,) = [option for option in options if option is not type(None)]
        return _parse(present, data, where)
    if origin is dict:
        _, value_kind = typing.get_args(kind)
        return {key: _parse(value_kind, item, f"{where}[{key!r}]") for key, item in data.items()}
    if origin is list:
        (item_kind,) = typing.get_args(kind)
        return [_parse(item_kind, item, f"{where}[{i}]") for i, item in enumerate(data)]
    return data


def json_ready(value: Any) -> Any:
    """NaN (an undefined correlation or AUROC) as null: JSON has no NaN; paths as text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    return value


def to_json(report: EvalReport) -> str:
    return json.dumps(json_ready(report), indent=2) + "\n"


def read_eval_report(path: Path) -> EvalReport:
    """The report in eval.json at `path` (ValueError naming the field a stale file lacks)."""
    return parse(EvalReport, json.loads(Path(path).read_text()))
