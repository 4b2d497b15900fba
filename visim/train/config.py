"""The whole configuration of a pre-training run: one dataclass tree with defaults.

Sources are layered: defaults < a TOML file (--config, or a run's config.toml on --resume) <
command-line options. The resolved tree is written to RUN_DIR/config.toml, which loads back to
the same tree. TOML has no null: fields that are None are left out and read back as None.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visim.models.model_config import (
    BACKBONE_ARCHS,
    KAPPA_PARAMS,
    KAPPA_SOURCES,
    METHODS,
    VI_LOSSES,
    ModelConfig,
)
from visim.pipeline.augment.recipe import PRESETS, AugmentationRecipe, recipe_preset
from visim.pipeline.backends.registry import BACKENDS
from visim.train.precision import PRECISIONS
from visim.train.toml_tables import dumps_tables
from visim.train.tracker_extras import LOG_WITH_CHOICES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(ValueError):
    """A bad option; the message is one line that names the option."""


@dataclass(frozen=True)
class DataConfig:
    source: str = ""  # DATA: what the backend reads (unused by the synthetic backend)
    backend: str = "torch"
    recipe: str = "imagenet"  # augmentation preset: imagenet | cifar | small
    size: int | None = None  # crop size; None keeps the preset's
    # Loader workers per process; None follows the machine (pipeline.backends.loader_workers):
    # all cores but one on a CPU, the cores per process with GPUs.
    workers: int | None = None
    synthetic_samples: int = 10_000  # samples per epoch of the synthetic backend


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 100
    batch_size: int = 512  # global: divided among the processes
    lr: float = 0.05  # base LR, scaled by batch_size / 256
    weight_decay: float = 1e-4
    # SimSiam decays every parameter, BN and biases included; False exempts them.
    decay_norm_and_bias: bool = True
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    fix_pred_lr: bool = True  # predictor (and kappa head) at the peak LR, no schedule


@dataclass(frozen=True)
class RuntimeConfig:
    precision: str = "auto"
    compile: bool = False
    sync_bn: bool = False
    gpus: int | None = None  # processes on this machine, one GPU each; None: 1, or the CPU
    cpu_processes: int = 0  # > 0: train on the CPU in this many processes (gloo)
    seed: int = 0
    checkpoint_every: float = 30.0  # minutes between timed checkpoints; 0: epoch ends only
    max_steps: int = 0  # stop after this many optimizer steps in all; 0: no limit
    log_every: int = 50  # steps between metrics lines
    # An experiment tracker that gets every metrics line and the configuration: none |
    # tensorboard | wandb | mlflow | aim (each an extra: pip install 'visim[tensorboard]').
    log_with: str = "none"
    quiet: bool = False
    max_nonfinite_steps: int = 5  # consecutive non-finite losses that stop the run
    collapse_ratio: float = 0.2  # warn when std(z/|z|) < collapse_ratio / sqrt(proj_dim)
    # Test aid: each process writes fingerprints of the samples it trained on and of its final
    # parameters to RUN_DIR/debug, so tests can check sharding and replica agreement.
    record_samples: bool = False


def _default_model() -> ModelConfig:
    return ModelConfig(method="vi-simsiam", arch="resnet50")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=_default_model)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    @property
    def recipe(self) -> AugmentationRecipe:
        return recipe_preset(self.data.recipe, size=self.data.size)


# Command-line option -> "section.field". Error messages name options through this table.
CLI_OPTIONS: dict[str, str] = {
    "DATA": "data.source",
    "--backend": "data.backend",
    "--recipe": "data.recipe",
    "--size": "data.size",
    "--workers": "data.workers",
    "--method": "model.method",
    "--arch": "model.arch",
    "--cifar-stem": "model.cifar_stem",
    "--vi-loss": "model.vi_loss",
    "--kappa-source": "model.kappa_source",
    "--kappa-param": "model.kappa_param",
    "--kappa-detach": "model.kappa_detach",
    "--channels-last": "model.channels_last",
    "--epochs": "optim.epochs",
    "--batch-size": "optim.batch_size",
    "--lr": "optim.lr",
    "--weight-decay": "optim.weight_decay",
    "--momentum": "optim.momentum",
    "--warmup-epochs": "optim.warmup_epochs",
    "--fix-pred-lr": "optim.fix_pred_lr",
    "--precision": "runtime.precision",
    "--compile": "runtime.compile",
    "--sync-bn": "runtime.sync_bn",
    "--gpus": "runtime.gpus",
    "--cpu-processes": "runtime.cpu_processes",
    "--seed": "runtime.seed",
    "--checkpoint-every": "runtime.checkpoint_every",
    "--max-steps": "runtime.max_steps",
    "--log-every": "runtime.log_every",
    "--log-with": "runtime.log_with",
    "--quiet": "runtime.quiet",
}
_OPTION_OF = {path: option for option, path in CLI_OPTIONS.items()}


def option_name(path: str) -> str:
    """How a user sets `path` ("optim.batch_size"): its flag, else its TOML key."""
    section, key = path.split(".")
    return _OPTION_OF.get(path, f"[{section}] {key}")


# Section name -> its dataclass, e.g. "optim" -> OptimConfig.
_SECTIONS: dict[str, type] = typing.get_type_hints(TrainConfig)


# Options whose value is a name from a fixed list.
CHOICES: dict[str, tuple[str, ...]] = {
    "data.backend": tuple(BACKENDS),
    "data.recipe": tuple(PRESETS),
    "model.method": METHODS,
    "model.arch": BACKBONE_ARCHS,
    "model.vi_loss": VI_LOSSES,
    "model.kappa_source": KAPPA_SOURCES,
    "model.kappa_param": KAPPA_PARAMS,
    "runtime.precision": PRECISIONS,
    "runtime.log_with": LOG_WITH_CHOICES,
}


def _coerce(value: Any, hint: Any, path: str) -> Any:
    """`value` as type `hint` (int -> float allowed), or ConfigError naming the option."""
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    options = typing.get_args(hint) if is_union else (hint,)
    if value is None and type(None) in options:
        return None
    for kind in options:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is bool and isinstance(value, bool):
            return value
        if kind is str and isinstance(value, str):
            if path in CHOICES and value not in CHOICES[path]:
                choices = ", ".join(CHOICES[path])
                raise ConfigError(f"{option_name(path)} must be one of {choices}, got {value!r}")
            return value
    wanted = " or ".join(k.__name__ for k in options if k is not type(None))
    raise ConfigError(f"{option_name(path)} must be {wanted}, got {value!r}")


def config_from_dict(tree: dict, base: TrainConfig | None = None, origin: str = "") -> TrainConfig:
    """`base` (the defaults when None) with the values of a nested dict laid over it."""
    base = base or TrainConfig()
    where = f" in {origin}" if origin else ""
    sections = {}
    for section, values in tree.items():
        if section not in _SECTIONS:
            raise ConfigError(
                f"unknown section [{section}]{where}; sections are {', '.join(_SECTIONS)}"
            )
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}]{where} must be a table of options")
        hints = typing.get_type_hints(_SECTIONS[section])
        unknown = sorted(set(values) - set(hints))
        if unknown:
            raise ConfigError(f"unknown option {unknown[0]!r} in [{section}]{where}")
        current = getattr(base, section)
        coerced = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in values.items()}
        try:
            sections[section] = dataclasses.replace(current, **coerced)
        except ValueError as error:  # ModelConfig validates itself
            raise ConfigError(f"[{section}]{where}: {error}") from None
    return dataclasses.replace(base, **sections)


def apply_overrides(config: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """`config` with {"section.field": value} set (values of None are ignored)."""
    tree: dict[str, dict] = {}
    for path, value in overrides.items():
        if value is not None:
            section, key = path.split(".")
            tree.setdefault(section, {})[key] = value
    return config_from_dict(tree, config)


def load_config(path: Path, base: TrainConfig | None = None) -> TrainConfig:
    try:
        tree = tomllib.loads(Path(path).read_text())
    except OSError as error:
        raise ConfigError(f"--config {path}: cannot read it ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--config {path}: not valid TOML ({error})") from None
    return config_from_dict(tree, base, origin=str(path))


def config_to_dict(config: TrainConfig) -> dict[str, dict]:
    return {
        name: {k: v for k, v in dataclasses.asdict(getattr(config, name)).items() if v is not None}
        for name in _SECTIONS
    }


def dump_config(config: TrainConfig) -> str:
    return dumps_tables(config_to_dict(config))


def validate(config: TrainConfig) -> None:
    """ConfigError for the first value that cannot work, whatever the machine."""
    d, o, r = config.data, config.optim, config.runtime
    checks = [
        (d.workers is None or d.workers >= 0, "data.workers", "at least 0"),
        (d.synthetic_samples >= 1, "data.synthetic_samples", "at least 1"),
        (o.epochs >= 1, "optim.epochs", "at least 1"),
        (o.batch_size >= 1, "optim.batch_size", "at least 1"),
        (o.lr > 0, "optim.lr", "positive"),
        (o.weight_decay >= 0, "optim.weight_decay", "at least 0"),
        (0 <= o.momentum < 1, "optim.momentum", "in [0, 1)"),
        (0 <= o.warmup_epochs <= o.epochs, "optim.warmup_epochs", "in [0, --epochs]"),
        (r.gpus is None or r.gpus >= 1, "runtime.gpus", "at least 1"),
        (r.cpu_processes >= 0, "runtime.cpu_processes", "at least 0"),
        (r.checkpoint_every >= 0, "runtime.checkpoint_every", "at least 0 minutes"),
        (r.max_steps >= 0, "runtime.max_steps", "at least 0 (0: no limit)"),
        (r.log_every >= 1, "runtime.log_every", "at least 1"),
        (r.max_nonfinite_steps >= 1, "runtime.max_nonfinite_steps", "at least 1"),
        (0 < r.collapse_ratio < 1, "runtime.collapse_ratio", "in (0, 1)"),
    ]
    for ok, path, wanted in checks:
        if not ok:
            section, key = path.split(".")
            value = getattr(getattr(config, section), key)
            raise ConfigError(f"{option_name(path)} must be {wanted}, got {value!r}")
    if r.gpus is not None and r.cpu_processes:
        raise ConfigError("--gpus and --cpu-processes exclude each other: pick one")
    try:
        config.recipe  # noqa: B018 - building it validates preset and size
    except ValueError as error:
        raise ConfigError(f"--recipe/--size: {error}") from None
