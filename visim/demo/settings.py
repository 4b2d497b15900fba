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

from visim.evaluation.eval_settings import EvalSettings
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


@dataclass(frozen=True)
class DemoSettings:
    out: Path = DEFAULT_OUT
    images: int = 4000  # train images of the demo set; its test split has a quarter as many
    # 16 epochs: kNN 29.6 on the validation screen against 24.2 at 8
    # (benchmarks/method/demo_screen.md), pre-training about 7 min on a 2-core Xeon with ffcv
    # (docs/demo.md).
    epochs: int = 16
    size: int = 32  # crop size in pixels (the demo images are 64x64)
    batch_size: int = 64
    backend: str = "auto"
    workers: int | None = None  # loader workers; None follows the machine, as in pretrain
    force: bool = False  # start over: convert again and train from scratch
    quiet: bool = False  # plain log lines instead of live progress bars

    def __post_init__(self) -> None:
        checks = [
            (self.images >= MIN_IMAGES, "--images", f"at least {MIN_IMAGES}"),
            (self.epochs >= 1, "--epochs", "at least 1"),
            (self.size >= 8, "--size", "at least 8"),
            (2 <= self.batch_size <= self.images, "--batch-size", "in [2, --images]"),
            (self.backend in DEMO_BACKENDS, "--backend", f"one of {', '.join(DEMO_BACKENDS)}"),
            (self.workers is None or self.workers >= 0, "--workers", "at least 0"),
        ]
        for ok, option, wanted in checks:
            if not ok:
                value = getattr(self, option.removeprefix("--").replace("-", "_"))
                raise ConfigError(f"{option} must be {wanted}, got {value!r}")

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
                # The paper's full likelihood: at this budget (500 steps of batch 64) the
                # SimSiam-scale steps of the "relative" default learned almost nothing (kNN
                # +2.4 points over random init even at lr 0.5), the NLL's kappa-scaled steps
                # +14.5; the moment head on the backbone beat the paper's softplus head on
                # kNN, probe and kappa's AUROC (benchmarks/method/demo_screen.md).
                "vi_loss": "nll",
                "kappa_param": "moment",
                "kappa_source": "backbone",
                # The default bank, as in pre-training: on the demo's screen it moved kappa's
                # right-answer AUROC by -0.009 and its in vs out AUROC from 0.42 to 0.61.
                "kappa_support": "bank",
            },
            "optim": {
                "epochs": settings.epochs,
                "batch_size": settings.batch_size,
                "lr": 0.05,
                # The NLL's steps grow with kappa, unbounded: unclipped, a 24-epoch run and a
                # 16-epoch one diverged late. Clipped at 25 the 24-epoch run did not, and at
                # 16 epochs kNN rose from 25.7 to 29.6 (at 50: 28.2; demo_screen.md).
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
