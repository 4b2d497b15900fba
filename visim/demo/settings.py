"""What `visim demo` trains and measures: a small VI-SimSiam configuration sized for a CPU.

The defaults were chosen by measuring whole demo runs on a 2-core CPU (docs/demo.md):
resnet18 with its ImageNet stem at 32 px (8x8 maps after the stem, so a step is cheap), heads
a quarter of SimSiam's width (at this size the 2048-wide MLPs would cost about a third of
every step), and enough epochs over the demo set that pre-trained features beat the
random-init baseline by well over 10 points of kNN top-1 within a few minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visim.core.option_fields import Check, at_least, field_problem, option
from visim.evaluation.eval_settings import EvalSettings, workers_option
from visim.pipeline.backends.registry import get_backend, missing_extra
from visim.pipeline.sources.demo import DEFAULT_SEED, TEST_DIVISOR
from visim.pipeline.sources.demo_shapes import DEMO_CLASSES
from visim.train.config import ConfigError, TrainConfig, config_from_dict, validate

DEFAULT_OUT = Path("visim-demo")
# "auto" takes ffcv where it imports (the faster loader here), else torch; the other backends
# cannot read the demo set the way the demo stores it.
DEMO_BACKENDS = ("auto", "ffcv", "torch")
MIN_IMAGES = len(DEMO_CLASSES) * TEST_DIVISOR  # the test split must hold every class
# The demo's kNN bank holds a few hundred images per class; SimSiam's k = 200 would let a
# whole class's worth of neighbours vote, so fewer vote here.
DEMO_KNN_K = 20
BATCH_IN_RANGE = Check(lambda value: value >= 2, "in [2, --images]")


@dataclass(frozen=True)
class DemoSettings:
    out: Path = option(
        DEFAULT_OUT, flag="--out", help="Folder for the data, the run and its evaluation."
    )
    images: int = option(
        4000,
        flag="--images",
        help="Train images of the demo set (its test split: a quarter).",
        check=at_least(MIN_IMAGES),
    )
    # 16 epochs: more kNN and probe accuracy than 8 on the validation screen
    # (benchmarks/method/demo_screen.md), and the whole demo within 10 minutes on a 2-core CPU
    # (benchmarks/method/demo_record.md).
    epochs: int = option(16, flag="--epochs", help="Pre-training epochs.", check=at_least(1))
    # The demo images are 64x64.
    size: int = option(32, flag="--size", help="Crop size in pixels.", check=at_least(8))
    # Checked against --images too, in __post_init__.
    batch_size: int = option(
        64, flag="--batch-size", help="Pre-training batch size.", check=BATCH_IN_RANGE
    )
    backend: str = option(
        "auto",
        flag="--backend",
        help="auto: ffcv where it is installed, else torch.",
        choices=DEMO_BACKENDS,
    )
    workers: int | None = workers_option()
    force: bool = option(
        False, flag="--force", help="Start over: convert again and pre-train from scratch."
    )
    quiet: bool = option(
        False, flag="--quiet", help="Plain log lines instead of live progress bars."
    )

    def __post_init__(self) -> None:
        problem = field_problem(self)
        if problem is None and self.batch_size > self.images:
            problem = f"--batch-size must be {BATCH_IN_RANGE.wanted}, got {self.batch_size!r}"
        if problem is not None:
            raise ConfigError(problem)

    @property
    def source(self) -> str:
        """The demo set as a source string: what the torch backend and evaluation read."""
        return f"demo:{self.images}:{DEFAULT_SEED}"

    @property
    def beton(self) -> Path:
        return self.out / "data" / f"demo-{self.images}.beton"

    @property
    def run_dir(self) -> Path:
        return self.out / "run"


def resolve_backend(requested: str) -> str:
    """The backend to train with; ConfigError with the install command if ffcv is asked for
    but does not import here."""
    if requested == "auto":
        return "ffcv" if missing_extra(get_backend("ffcv")) is None else "torch"
    fix = missing_extra(get_backend(requested))
    if fix is not None:
        raise ConfigError(f"--backend {requested}: not installed here; run: {fix}")
    return requested


def demo_train_config(settings: DemoSettings, backend: str) -> TrainConfig:
    """The pre-training configuration of the demo run, checked (ConfigError naming the option)."""
    # The run's config.toml must find the .beton from any working directory.
    reads_beton = get_backend(backend).reads_beton
    source = str(settings.beton.resolve()) if reads_beton else settings.source
    config = config_from_dict(
        {
            "data": {
                "source": source,
                "backend": backend,
                "recipe": "small",
                "size": settings.size,
                "workers": settings.workers,
            },
            "model": {
                "method": "vi-simsiam",
                "arch": "resnet18",
                "proj_dim": 512,
                "pred_hidden_dim": 128,
                # The paper's full likelihood: at this budget (a few hundred steps) the
                # SimSiam-scale steps of the "relative" default learned almost nothing, even
                # at 10x the learning rate, the NLL's kappa-scaled steps did; the moment head
                # on the backbone beat the paper's softplus head on kNN, probe and kappa's
                # AUROC (benchmarks/method/demo_screen.md, docs/demo.md).
                "vi_loss": "nll",
                "kappa_param": "moment",
                "kappa_source": "backbone",
                # The default bank, as in pre-training: on the demo's screen it turned kappa's
                # in vs out AUROC from worse than a coin to better, at no cost in right-answer
                # AUROC (demo_screen.md).
                "kappa_support": "bank",
            },
            "optim": {
                "epochs": settings.epochs,
                "batch_size": settings.batch_size,
                "lr": 0.05,
                # The NLL's steps grow with kappa, unbounded: unclipped, a 24-epoch run and a
                # 16-epoch one diverged late. Clipped at 25 the 24-epoch run did not, and at
                # 16 epochs kNN rose over the unclipped run's, more than at a clip of 50
                # (demo_screen.md).
                "clip_grad_norm": 25.0,
            },
            # Checkpoints at every epoch's end (a few seconds apart): an interrupted demo
            # resumes close to where it stopped.
            "runtime": {"checkpoint_every": 0, "log_every": 25, "quiet": settings.quiet},
        }
    )
    validate(config)
    return config


def demo_eval_settings(settings: DemoSettings) -> EvalSettings:
    return EvalSettings(
        train=settings.source,
        test=settings.source,
        knn_k=DEMO_KNN_K,
        workers=settings.workers,
    )
