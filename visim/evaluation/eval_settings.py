"""Everything `visim eval` and `visim embed` can be told, with defaults and one-line errors
naming the option (EvalError), in a module light enough for the command line to import.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visim.pipeline.sources.base import AUTO_SPLIT, SPLITS
from visim.train.tracker_extras import LOG_WITH_CHOICES

# How kappa_readout.py reads one kappa per image out of the model.
KAPPA_READOUTS = ("center", "mean", "median", "fit")
SPLIT_CHOICES = (*SPLITS, AUTO_SPLIT)


class EvalError(ValueError):
    """Evaluation cannot go on; the message is one line naming the argument at fault."""


def check_options(settings: object, checks: list[tuple[bool, str, str]]) -> None:
    """EvalError for the first (ok, "--option", "what it must be") that is not ok, with the
    value the option's field of `settings` holds."""
    for ok, option, wanted in checks:
        if not ok:
            value = getattr(settings, option.removeprefix("--").replace("-", "_"))
            raise EvalError(f"{option} must be {wanted}, got {value!r}")


@dataclass(frozen=True)
class EvalSettings:
    train: str  # labelled data the kNN bank and the probe are fitted on
    test: str  # labelled data the numbers are measured on
    ood: str | None = None  # data from elsewhere: kappa should be lower on it
    # auto: for --train the train split, for --test and --ood the test split, where the
    # source has splits; else the whole source.
    train_split: str = AUTO_SPLIT
    test_split: str = AUTO_SPLIT
    ood_split: str = AUTO_SPLIT
    checkpoint: Path | None = None  # None: the run's newest weights
    knn_k: int = 200
    knn_temperature: float = 0.1
    probe_weight_decay: float = 1e-4
    probe_max_iter: int = 300
    kappa_bins: int = 10
    # Test images whose two augmented views (training recipe) make the augmented-kappa
    # histogram; augmenting on the CPU is the slow part, so not the whole test set. 0: skip.
    augmented_images: int = 5000
    # Test images whose cropped and blurred versions are scored (the label-free check that a
    # degraded image looks less certain; uncertainty_metrics.py). 0: skip.
    degraded_images: int = 2000
    # A run (typically SimSiam at the same budget) whose label-free scores are measured on
    # the same images beside this run's: what kappa adds over an encoder trained without it.
    compare: Path | None = None
    # How one kappa per image is read out: "center" (its centre crop), the "mean" / "median"
    # of the head's kappa over kappa_views augmented views, or "fit", the kappa under which
    # those views agree as well as they do (kappa_readout.py says why this matters).
    kappa_readout: str = "center"
    kappa_views: int = 8
    grid_images: int = 16  # per grid (highest and lowest kappa); 0: no grids
    batch_size: int = 256
    # Data-loading processes; None follows the machine, as in training: all cores but one on a
    # CPU, every core with a GPU.
    workers: int | None = None
    device: str = "auto"  # auto: the first CUDA device if there is one, else the CPU
    plots: bool = True
    # Experiment tracker for the results: none | tensorboard | wandb | mlflow | aim;
    # None: the run's [runtime] log_with.
    log_with: str | None = None

    def __post_init__(self) -> None:
        split_names = ", ".join(SPLIT_CHOICES)
        checks = [
            (self.train_split in SPLIT_CHOICES, "--train-split", f"one of {split_names}"),
            (self.test_split in SPLIT_CHOICES, "--test-split", f"one of {split_names}"),
            (self.ood_split in SPLIT_CHOICES, "--ood-split", f"one of {split_names}"),
            (self.knn_k >= 1, "--knn-k", "at least 1"),
            (self.knn_temperature > 0, "--knn-temperature", "positive"),
            (self.probe_weight_decay >= 0, "--probe-weight-decay", "at least 0"),
            (self.probe_max_iter >= 1, "--probe-max-iter", "at least 1"),
            (self.kappa_bins >= 1, "--kappa-bins", "at least 1"),
            (self.augmented_images >= 0, "--augmented-images", "at least 0"),
            (self.degraded_images >= 0, "--degraded-images", "at least 0"),
            (
                self.kappa_readout in KAPPA_READOUTS,
                "--kappa-readout",
                f"one of {', '.join(KAPPA_READOUTS)}",
            ),
            (self.kappa_views >= 1, "--kappa-views", "at least 1"),
            (
                self.kappa_readout != "fit" or self.kappa_views >= 2,
                "--kappa-views",
                "at least 2 with --kappa-readout fit (it pairs every view with the others)",
            ),
            (self.grid_images >= 0, "--grid-images", "at least 0"),
            (self.batch_size >= 1, "--batch-size", "at least 1"),
            (self.workers is None or self.workers >= 0, "--workers", "at least 0"),
            (
                self.log_with is None or self.log_with in LOG_WITH_CHOICES,
                "--log-with",
                f"one of {', '.join(LOG_WITH_CHOICES)}",
            ),
        ]
        check_options(self, checks)


@dataclass(frozen=True)
class EmbedSettings:
    data: str  # the images to embed: any source visim reads
    out: Path  # the Parquet file to write
    # Of --data; auto: the train split where the source has splits, else the whole source.
    split: str = AUTO_SPLIT
    checkpoint: Path | None = None  # None: the run's newest weights
    projections: bool = False  # also the projector's output, in a column of its own
    # Images the kNN density columns are measured against; None: the run's training data;
    # "none": no density columns.
    reference: str | None = None
    reference_split: str = AUTO_SPLIT
    batch_size: int = 256
    workers: int | None = None  # data-loading processes; None: the machine's default
    device: str = "auto"  # auto: the first CUDA device if there is one, else the CPU
    summary_images: int = 5  # lowest- and highest-kappa images named at the end
    force: bool = False  # overwrite --out

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, "--batch-size", "at least 1"),
            (self.workers is None or self.workers >= 0, "--workers", "at least 0"),
            (self.summary_images >= 0, "--summary-images", "at least 0"),
            (
                self.reference_split in SPLIT_CHOICES,
                "--reference-split",
                f"one of {', '.join(SPLIT_CHOICES)}",
            ),
        ]
        check_options(self, checks)
