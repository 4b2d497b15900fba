"""Preset benchmark settings per kind of machine; any command-line option overrides them.

gpu: the figures the project is judged by - SimSiam and VI-SimSiam, ResNet-18 and ResNet-50
at 224 px in bf16, channels_last on and off, torch.compile on for ResNet-50 (with
channels_last); real backends at the baseline setting only. Sized to fit, with the rest of
scripts/gpu-check.sh, in 8 minutes of a lent GPU (visim.bench.train.case_estimate).
cpu: the same questions at a size that finishes in minutes on a few cores - ResNet-18 at 32
px, one setting changed at a time, and few bf16 steps (CPUs without bf16 units run it about
ten times slower than fp32).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from visim.bench.train.matrix import REAL_DATA_AT, SWEEPS, ModelAxes
from visim.models.backbones import BACKBONE_ARCHS
from visim.models.model_config import METHODS
from visim.pipeline.augment.recipe import recipe_preset
from visim.pipeline.backends.registry import BACKENDS
from visim.train.precision import PRECISIONS

PROFILES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class TrainProfile:
    axes: ModelAxes
    sweep: str  # matrix.SWEEPS
    backends: tuple[str, ...]
    real_data_at: str  # matrix.REAL_DATA_AT
    size: int
    recipe: str
    cifar_stem: bool
    batch_size: int
    window_steps: int
    windows: int  # timed windows after the warm-up window
    bf16_window_steps: int | None = None  # None: window_steps
    # Archs measured with torch.compile on, at the first channels_last value; None: everywhere
    # the sweep puts compile on (matrix.model_settings).
    compile_archs: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for option, values, known in (
            ("--methods", self.axes.method, METHODS),
            ("--archs", self.axes.arch, BACKBONE_ARCHS),
            ("--precisions", self.axes.precision, PRECISIONS),
            ("--backends", self.backends, tuple(BACKENDS)),
        ):
            _check_known(option, values, known)
        _check_known("--compile-archs", self.compile_archs or (), BACKBONE_ARCHS)
        _check_known("--sweep", (self.sweep,), SWEEPS)
        _check_known("--real-data-at", (self.real_data_at,), REAL_DATA_AT)
        if "synthetic" not in self.backends:
            raise ValueError(
                "--backends must include synthetic: every data stall is measured against it"
            )
        _check_common(self.recipe, self.size)
        _check_at_least("--batch-size", self.batch_size, 2)  # BatchNorm needs 2 samples
        _check_at_least("--window-steps", self.window_steps, 1)
        _check_at_least("--windows", self.windows, 1)
        if self.bf16_window_steps is not None:
            _check_at_least("bf16 window steps", self.bf16_window_steps, 1)

    def window_steps_for(self, precision: str) -> int:
        if precision == "bf16" and self.bf16_window_steps is not None:
            return self.bf16_window_steps
        return self.window_steps

    def max_steps_for(self, precision: str) -> int:
        """The warm-up window and the timed ones."""
        return self.window_steps_for(precision) * (self.windows + 1)


@dataclass(frozen=True)
class ScalingProfile:
    method: str
    arch: str
    precision: str
    channels_last: bool
    compile: bool
    backend: str
    size: int
    recipe: str
    cifar_stem: bool
    dataset_sizes: tuple[int, ...]  # images per epoch, each a demo set of that size
    batch_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_known("--method", (self.method,), METHODS)
        _check_known("--arch", (self.arch,), BACKBONE_ARCHS)
        _check_known("--precision", (self.precision,), PRECISIONS)
        _check_known("--backend", (self.backend,), tuple(BACKENDS))
        _check_common(self.recipe, self.size)
        for option, values in (
            ("--sizes", self.dataset_sizes),
            ("--batch-sizes", self.batch_sizes),
        ):
            if len(values) < 2 or len(set(values)) != len(values):
                raise ValueError(f"{option} needs at least two different values, got {values}")
            for value in values:
                _check_at_least(option, value, 2)


def _check_known(option: str, values: tuple, known: tuple) -> None:
    for value in values:
        if value not in known:
            raise ValueError(f"{option}: unknown {value!r}; choose from {', '.join(known)}")


def _check_at_least(option: str, value: int, least: int) -> None:
    if value < least:
        raise ValueError(f"{option} must be at least {least}, got {value}")


def _check_common(recipe: str, size: int) -> None:
    try:
        recipe_preset(recipe, size=size)
    except ValueError as error:
        raise ValueError(f"--recipe/--size: {error}") from None


TRAIN_PROFILES = {
    "gpu": TrainProfile(
        axes=ModelAxes(
            method=("vi-simsiam", "simsiam"),
            arch=("resnet50", "resnet18"),
            precision=("bf16",),
            channels_last=(True, False),
            compile=(False, True),
        ),
        sweep="cross",
        backends=("synthetic", "torch", "ffcv", "dali"),
        real_data_at="baseline",
        size=224,
        recipe="imagenet",
        cifar_stem=False,
        batch_size=256,
        # 10-step windows: 0.4-1 s each at the target rates, timed between device syncs.
        window_steps=10,
        windows=3,
        compile_archs=("resnet50",),
    ),
    "cpu": TrainProfile(
        axes=ModelAxes(
            method=("vi-simsiam", "simsiam"),
            arch=("resnet18",),
            precision=("fp32", "bf16"),
            channels_last=(True, False),
            compile=(False, True),
        ),
        sweep="one-at-a-time",
        backends=("synthetic", "torch", "ffcv", "dali"),
        real_data_at="fastest",
        size=32,
        recipe="cifar",
        cifar_stem=False,  # the ImageNet stem shrinks 32 px to 8x8 maps: minutes, not hours
        batch_size=32,
        window_steps=8,
        windows=2,
        bf16_window_steps=4,
    ),
}

SCALING_PROFILES = {
    "gpu": ScalingProfile(
        method="vi-simsiam",
        arch="resnet50",
        precision="bf16",
        channels_last=True,
        compile=False,
        backend="torch",
        size=224,
        recipe="imagenet",
        cifar_stem=False,
        dataset_sizes=(2048, 4096, 8192),
        batch_sizes=(64, 128, 256),
    ),
    "cpu": ScalingProfile(
        method="vi-simsiam",
        arch="resnet18",
        precision="fp32",
        channels_last=True,
        compile=False,
        backend="torch",
        size=32,
        recipe="cifar",
        cifar_stem=False,
        dataset_sizes=(256, 512, 1024),
        batch_sizes=(16, 32, 64),
    ),
}


def resolve_profile(name: str) -> str:
    """'cpu' or 'gpu'; 'auto' is gpu where CUDA is available."""
    if name not in PROFILES:
        raise ValueError(f"--profile must be one of {', '.join(PROFILES)}, got {name!r}")
    if name == "auto":
        return "gpu" if torch.cuda.is_available() else "cpu"
    return name
