"""`visim embed`: a run's frozen model over any source, one Parquet row per image.

Features and kappa come from source_features, exactly as `visim eval` computes them for its
test set. The table, in source order, one row per image (unreadable ones included, with
nulls where they have no value):

    index        int64     position in the source
    item         string    where the image is: its path, or file[index] for array sources
    label        int64     the source's label; class: its name
    kappa        float32   VI-SimSiam only: concentration of the image's posterior
                           (higher = more certain)
    kappa_rank   int64     VI-SimSiam only: 0 for the lowest kappa (the most uncertain image)
    knn_mean_cosine  float32  mean cosine of the image's features to its 10 nearest reference
                           images (lower = less like the reference set)
    knn_distance_50  float32  distance of the L2-normalised features to the 50th nearest
                           reference image (higher = less like the reference set)
    inverse_norm float32   1 / the norm of the image's features (higher = less certain)
    mahalanobis  float32   squared Mahalanobis distance of the L2-normalised features to the
                           reference images' (higher = less like the reference set)
    embedding    float32[feature_dim]   backbone features
    projection   float32[proj_dim]      the projector's output, with --projections

The reference set of the density columns is the run's training data unless --reference names
another (--reference none: no density columns); when it is the embedded data itself, an image is
never its own neighbour. The four are the label-free scores `visim eval` measures
(uncertainty_scores.py), written as quantities, not negated into uncertainties.

The run, the weights and the data are stored as JSON in the file's schema metadata ("visim").
The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from visim.core.atomic_write import write_atomically
from visim.evaluation.eval_report import ExtremeImage, KappaSummary
from visim.evaluation.eval_settings import EmbedSettings, EvalError
from visim.evaluation.evaluate import open_eval_source, resolve_device, same_images
from visim.evaluation.feature_cache import FeatureStore
from visim.evaluation.features import Progress, source_features
from visim.evaluation.kappa_analysis import kappa_spread, kappa_summary, spread_warning
from visim.evaluation.kappa_report import extreme_images
from visim.evaluation.parquet_table import require_pyarrow, write_parquet
from visim.evaluation.run_loading import EvaluatedRun, open_run
from visim.evaluation.uncertainty_scores import encoder_scorer, inverse_norm
from visim.pipeline.backends.loader_workers import resolve_loader_workers
from visim.pipeline.sources.base import ImageSource

UNREADABLE_NAMED = 10  # in the summary; the table has them all
VECTOR_COLUMNS = ("embedding", "projection")
SCORE_COLUMNS = ("knn_mean_cosine", "knn_distance_50", "inverse_norm", "mahalanobis")
NO_REFERENCE = "none"


@dataclass(frozen=True)
class EmbedResult:
    out: Path
    rows: int  # = images in the source
    columns: list[str]
    widths: dict[str, int]  # floats per row of the vector columns: embedding, projection
    kappa: KappaSummary | None  # of the readable images; None for SimSiam
    extremes: dict[str, list[ExtremeImage]]  # "lowest" / "highest" kappa images
    spread_warning: str | None  # kappa carries no per-image information on these images
    reference: str | None  # what the density columns measure against (None: no density columns)
    unreadable: int
    unreadable_items: list[str]  # the first UNREADABLE_NAMED of them
    warnings: list[str]  # about the data, e.g. a .beton whose content was not verified


def embed_run(
    run_dir: Path, settings: EmbedSettings, progress: Progress | None = None
) -> EmbedResult:
    """Write settings.out for the run at `run_dir`; EvalError, with a one-line message naming
    the argument at fault, before any expensive work when something cannot work."""
    out = Path(settings.out)
    if out.is_dir():
        raise EvalError(f"--out {out}: is a directory; name the .parquet file to write")
    if out.exists() and not settings.force:
        raise EvalError(f"--out {out}: already exists; pass --force to overwrite it")
    require_pyarrow()
    run = open_run(run_dir, settings.checkpoint)
    warnings: list[str] = []
    source = open_eval_source("--data", settings.data, settings.split, "train", warnings.append)
    reference = reference_source(run, settings, warnings.append)
    device = resolve_device(settings.device)
    model = run.pretrained_model().to(device)
    # The eval loader is torch's; without --workers, the machine's default.
    workers = resolve_loader_workers(settings.workers, "torch", device.type)
    try:
        features = source_features(
            run,
            model,
            source,
            batch_size=settings.batch_size,
            device=device,
            workers=workers,
            with_kappa=run.has_kappa,
            with_projections=settings.projections,
            progress=progress,
        )
    except ValueError as error:  # not one image of the source could be read
        raise EvalError(f"--data {settings.data}: {error}") from None
    if reference is None:
        scores = {"inverse_norm": inverse_norm(features["features"])}
    else:
        # Through eval's feature cache: the training set's features are computed once per run.
        store = FeatureStore(run, settings.batch_size, device, workers, lambda line: None)
        bank = store.features("pretrained", model, reference, "reference")["features"]
        try:
            scorer = encoder_scorer(bank, probe=None)  # eval's label-free scores, no probe here
        except ValueError as error:  # a reference of one readable image: no covariance
            raise EvalError(
                f"--reference {reference.location} [{reference.split}]: {error}; name a "
                "larger set, or --reference none for no density columns"
            ) from None
        scores = scorer(features["features"], same_images(reference, source))
        # Stored as quantities: the mean cosine itself, not its negation (module docstring).
        scores["knn_mean_cosine"] = -scores["knn_mean_cosine"]

    columns, nulls = table_columns(source, features, scores)
    out.parent.mkdir(parents=True, exist_ok=True)
    metadata = table_metadata(run, source, features, reference)
    write_atomically(out, lambda temporary: write_parquet(temporary, columns, nulls, metadata))

    missing = np.flatnonzero(nulls["embedding"])
    return EmbedResult(
        out=out,
        rows=len(source),
        columns=list(columns),
        widths={name: np.shape(columns[name])[1] for name in VECTOR_COLUMNS if name in columns},
        kappa=kappa_summary(features["kappa"].numpy()) if "kappa" in features else None,
        spread_warning=(
            spread_warning(
                kappa_spread(features["kappa"].numpy()), f"the images of {source.location}"
            )
            if "kappa" in features
            else None
        ),
        reference=None if reference is None else f"{reference.location} [{reference.split}]",
        extremes=(
            extreme_images(features, None, source, settings.summary_images)
            if "kappa" in features
            else {}
        ),
        unreadable=len(missing),
        unreadable_items=[source.describe(int(i)) for i in missing[:UNREADABLE_NAMED]],
        warnings=warnings,
    )


def reference_source(
    run: EvaluatedRun, settings: EmbedSettings, warn: Callable[[str], None]
) -> ImageSource | None:
    """The images the density columns are measured against: --reference, else the run's training
    data; None with --reference none."""
    if settings.reference == NO_REFERENCE:
        return None
    if settings.reference is not None:
        return open_eval_source(
            "--reference", settings.reference, settings.reference_split, "train", warn
        )
    trained_on = run.config.data.source
    try:
        return open_eval_source("--reference", trained_on, settings.reference_split, "train", warn)
    except EvalError as error:
        raise EvalError(
            f"{error} (the run's training data, the default reference); name the reference "
            f"images with --reference SRC, or pass --reference {NO_REFERENCE}"
        ) from None


def table_columns(
    source: ImageSource, features: dict[str, torch.Tensor], scores: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray | list[str]], dict[str, np.ndarray]]:
    """(columns, nulls) of the table: one row per source item, `features` (source_features'
    dict, readable images only) and the per-image `scores` (SCORE_COLUMNS) scattered to their
    rows."""
    count = len(source)
    rows = features["indices"].numpy()  # [M] source positions of the readable images
    missing = np.ones(count, dtype=bool)
    missing[rows] = False
    labels = np.asarray(source.labels, dtype=np.int64)
    columns: dict[str, np.ndarray | list[str]] = {
        "index": np.arange(count, dtype=np.int64),
        "item": [source.describe(i) for i in range(count)],
        "label": labels,
        "class": [source.classes[label] for label in labels],
    }
    if "kappa" in features:
        kappa = features["kappa"].numpy()  # [M]
        rank = np.empty(len(kappa), dtype=np.int64)
        rank[np.argsort(kappa, kind="stable")] = np.arange(len(kappa))
        columns["kappa"] = _scatter(kappa, rows, count)
        columns["kappa_rank"] = _scatter(rank, rows, count)
    for name in SCORE_COLUMNS:
        if name in scores:
            columns[name] = _scatter(scores[name].astype(np.float32), rows, count)
    columns["embedding"] = _scatter(features["features"].numpy(), rows, count)  # [N, D]
    if "projections" in features:
        columns["projection"] = _scatter(features["projections"].numpy(), rows, count)
    nulls = {name: missing for name in columns if name not in ("index", "item", "label", "class")}
    return columns, nulls


def _scatter(values: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """values [M, ...] at `rows` of a zero array [count, ...] (the other rows become nulls)."""
    full = np.zeros((count, *values.shape[1:]), dtype=values.dtype)
    full[rows] = values
    return full


def table_metadata(
    run: EvaluatedRun, source: ImageSource, features: dict, reference: ImageSource | None
) -> dict:
    return {
        "run_dir": str(run.run_dir.path),
        "weights": str(run.weights),
        "method": run.config.model.method,
        "arch": run.config.model.arch,
        "data": source.location,
        "split": source.split,
        "images": len(source),
        "readable": int(len(features["indices"])),
        "embedding": "backbone features of the un-augmented image (resized, centre-cropped)",
        "kappa_rank": "0 for the lowest kappa",
        "reference": None
        if reference is None
        else {"location": reference.location, "split": reference.split, "images": len(reference)},
        "knn_mean_cosine": "mean cosine to the 10 nearest reference images (low = unlike them)",
        "knn_distance_50": "distance to the 50th nearest reference image (high = unlike them)",
        "inverse_norm": "1 / the norm of the backbone features (high = less certain)",
        "mahalanobis": "squared Mahalanobis distance to the reference images (high = unlike them)",
    }
