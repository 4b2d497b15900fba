"""Everything `visim eval` and `visim embed` can be told, with defaults and one-line errors
naming the option (EvalError), in a module light enough for the command line to import.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from visim.core.option_fields import POSITIVE, at_least, field_problem, option
from visim.pipeline.sources.base import AUTO_SPLIT, SPLITS
from visim.pipeline.sources.factory import SOURCES_HELP
from visim.train.tracker_extras import LOG_WITH_CHOICES

# How kappa_readout.py reads one kappa per image out of the model.
KAPPA_READOUTS = ("center", "mean", "median", "fit")
SPLIT_CHOICES = (*SPLITS, AUTO_SPLIT)


class EvalError(ValueError):
    """Evaluation cannot go on; the message is one line naming the argument at fault."""


def check_fields(settings: object) -> None:
    """EvalError for the first field of `settings` whose value its option does not allow."""
    problem = field_problem(settings)
    if problem is not None:
        raise EvalError(problem)


SPLIT_HELP = "auto: the train split for --train, the test split otherwise, where it has splits"


# How the model runs over the images, the same for eval and embed: one declaration each.
def batch_size_option() -> int:
    return option(256, flag="--batch-size", help="Images per forward pass.", check=at_least(1))


def workers_option() -> int | None:
    return option(
        None,
        flag="--workers",
        help="Data-loading processes (default: all cores but one on a CPU, every core with a GPU).",
        check=at_least(0),
    )


def device_option() -> str:
    return option("auto", flag="--device", help="auto, cpu, cuda or cuda:N.")


@dataclass(frozen=True)
class EvalSettings:
    train: str = option(
        MISSING,
        flag="--train",
        help=f"Labelled data for the kNN bank and the probe: {SOURCES_HELP}.",
    )
    test: str = option(MISSING, flag="--test", help=f"Labelled data to measure on: {SOURCES_HELP}.")
    ood: str | None = option(
        None,
        flag="--ood",
        help="Out-of-distribution data: AUROC of kappa, in- vs out-of-distribution.",
    )
    train_split: str = option(
        AUTO_SPLIT,
        flag="--train-split",
        help=f"Split of --train ({SPLIT_HELP}).",
        choices=SPLIT_CHOICES,
    )
    test_split: str = option(
        AUTO_SPLIT,
        flag="--test-split",
        help=f"Split of --test ({SPLIT_HELP}).",
        choices=SPLIT_CHOICES,
    )
    ood_split: str = option(
        AUTO_SPLIT,
        flag="--ood-split",
        help=f"Split of --ood ({SPLIT_HELP}).",
        choices=SPLIT_CHOICES,
    )
    checkpoint: Path | None = option(
        None,
        flag="--checkpoint",
        help="Weights to evaluate (default: the run's newest checkpoint or export).",
    )
    knn_k: int = option(200, flag="--knn-k", help="Neighbours that vote in kNN.", check=at_least(1))
    knn_temperature: float = option(
        0.1,
        flag="--knn-temperature",
        help="kNN vote weight exp(cosine / temperature).",
        check=POSITIVE,
    )
    probe_weight_decay: float = option(
        1e-4, flag="--probe-weight-decay", help="L2 penalty of the linear probe.", check=at_least(0)
    )
    probe_max_iter: int = option(
        300,
        flag="--probe-max-iter",
        help="L-BFGS iterations of the linear probe.",
        check=at_least(1),
    )
    kappa_bins: int = option(
        10,
        flag="--kappa-bins",
        help="Equal-count kappa bins for accuracy against kappa.",
        check=at_least(1),
    )
    # Augmenting on the CPU is the slow part, so not the whole test set.
    augmented_images: int = option(
        5000,
        flag="--augmented-images",
        help="Test images whose two augmented views give the augmented-kappa histogram (0: skip).",
        check=at_least(0),
    )
    # The label-free check that a degraded image looks less certain (uncertainty_metrics.py).
    degraded_images: int = option(
        2000,
        flag="--degraded-images",
        help="Test images whose cropped and blurred versions are scored: the share whose "
        "uncertainty rises (0: skip).",
        check=at_least(0),
    )
    # What kappa adds over an encoder trained without it.
    compare: Path | None = option(
        None,
        flag="--compare",
        help="Another run (SimSiam of the same budget): its label-free scores on the same "
        "images, beside this run's.",
    )
    # kappa_readout.py says why the readout matters.
    kappa_readout: str = option(
        "center",
        flag="--kappa-readout",
        help="One kappa per image: the head's on its centre crop (center), the mean or median "
        "of the head's over --kappa-views augmented views of the training recipe, or the kappa "
        "under which those views agree as well as they do (fit).",
        choices=KAPPA_READOUTS,
    )
    kappa_views: int = option(
        8,
        flag="--kappa-views",
        help="Augmented views per image for --kappa-readout mean|median|fit (fit: at least 2).",
        check=at_least(1),
    )
    grid_images: int = option(
        16,
        flag="--grid-images",
        help="Images in each highest / lowest kappa grid (0: none).",
        check=at_least(0),
    )
    batch_size: int = batch_size_option()
    workers: int | None = workers_option()
    device: str = device_option()
    plots: bool = option(True, flag="--plots/--no-plots", help="Write PNG plots (the plots extra).")
    log_with: str | None = option(
        None,
        flag="--log-with",
        help="Experiment tracker for the accuracies, kappa scores and histograms "
        "(default: the run's --log-with).",
        choices=LOG_WITH_CHOICES,
    )

    def __post_init__(self) -> None:
        check_fields(self)
        if self.kappa_readout == "fit" and self.kappa_views < 2:
            raise EvalError(
                "--kappa-views must be at least 2 with --kappa-readout fit (it pairs every view "
                f"with the others), got {self.kappa_views!r}"
            )


@dataclass(frozen=True)
class EmbedSettings:
    data: str = option(MISSING, flag="--data", help=f"The images to embed: {SOURCES_HELP}.")
    out: Path = option(MISSING, flag="--out", help="The Parquet file to write, one row per image.")
    split: str = option(
        AUTO_SPLIT,
        flag="--split",
        help="Split of --data; auto: train where it has splits, else all.",
        choices=SPLIT_CHOICES,
    )
    checkpoint: Path | None = option(
        None,
        flag="--checkpoint",
        help="Weights to use (default: the run's newest checkpoint or export).",
    )
    projections: bool = option(
        False,
        flag="--projections/--no-projections",
        help="Also write the projector's output (column projection).",
    )
    reference: str | None = option(
        None,
        flag="--reference",
        help="Images the density columns (kNN, Mahalanobis) measure against: "
        f"{SOURCES_HELP} (default: the run's training data; none: no density columns).",
    )
    reference_split: str = option(
        AUTO_SPLIT,
        flag="--reference-split",
        help="Split of --reference (auto: train where it has one).",
        choices=SPLIT_CHOICES,
    )
    batch_size: int = batch_size_option()
    workers: int | None = workers_option()
    device: str = device_option()
    summary_images: int = option(
        5,
        flag="--summary-images",
        help="Lowest- and highest-kappa images named in the summary (0: none).",
        check=at_least(0),
    )
    force: bool = option(False, flag="--force", help="Overwrite --out.")

    def __post_init__(self) -> None:
        check_fields(self)
