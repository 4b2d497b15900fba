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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visim.core.option_fields import POSITIVE, Check, at_least, option
from visim.models.model_config import (
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
    # What the backend reads (unused by the synthetic backend).
    source: str = option(
        "",
        flag="DATA",
        help="What to train on: a .beton (ffcv), an image folder / IDX / CIFAR / .npz source or "
        "'demo' (torch, dali); ignored by the synthetic backend. Taken from the run on --resume.",
        show_default=False,
    )
    backend: str = option("torch", flag="--backend", choices=tuple(BACKENDS))
    recipe: str = option(
        "imagenet", flag="--recipe", help="Augmentation preset:", choices=tuple(PRESETS)
    )
    # Crop size; None keeps the preset's.
    size: int | None = option(
        None, flag="--size", help="Crop size in pixels (default: the recipe's)."
    )
    # Loader workers per process; None follows the machine (pipeline.backends.loader_workers):
    # all cores but one on a CPU, the cores per process with GPUs.
    workers: int | None = option(
        None,
        flag="--workers",
        help="Loader workers per process (default: all cores but one on a CPU; with GPUs, the "
        "cores per process).",
        check=at_least(0),
    )
    synthetic_samples: int = option(10_000, check=at_least(1))  # per epoch of that backend


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = option(100, flag="--epochs", check=at_least(1))
    # Global: divided among the processes.
    batch_size: int = option(
        512,
        flag="--batch-size",
        help="Global batch size, split over the processes.",
        check=at_least(1),
    )
    # Base LR, scaled by batch_size / 256.
    lr: float = option(0.05, flag="--lr", help="Base LR, times batch/256.", check=POSITIVE)
    weight_decay: float = option(1e-4, flag="--weight-decay", check=at_least(0))
    # SimSiam decays every parameter, BN and biases included; False exempts them.
    decay_norm_and_bias: bool = True
    momentum: float = option(
        0.9, flag="--momentum", check=Check(lambda value: 0 <= value < 1, "in [0, 1)")
    )
    # Bounded by epochs: validate() checks it.
    warmup_epochs: float = option(
        0.0, flag="--warmup-epochs", help="Linear warmup before the cosine decay."
    )
    # Rescales the gradient of every trained parameter, all together, to at most this L2 norm
    # before each step; None: never. VI-SimSiam's full likelihood scales a step by kappa, which
    # is unbounded: one bad batch late in a run can then wreck the network (docs/method.md 2.1).
    clip_grad_norm: float | None = option(
        None,
        flag="--clip-grad-norm",
        help="Clip the global gradient norm to this (default: no clipping).",
        check=POSITIVE,
    )
    # Predictor (and kappa head) at the peak LR, no schedule.
    fix_pred_lr: bool = option(
        True, flag="--fix-pred-lr", help="Predictor at the peak LR, unscheduled."
    )


@dataclass(frozen=True)
class RuntimeConfig:
    precision: str = option(
        "auto",
        flag="--precision",
        help="auto: bf16 (or fp16) on GPUs, fp32 on the CPU.",
        choices=PRECISIONS,
    )
    compile: bool = option(False, flag="--compile", help="torch.compile the model.")
    sync_bn: bool = option(False, flag="--sync-bn", help="SyncBatchNorm (GPUs).")
    # Processes on this machine, one GPU each; None: 1, or the CPU.
    gpus: int | None = option(
        None,
        flag="--gpus",
        help="Processes on this machine, one GPU each (default: 1 GPU, or the CPU).",
        check=at_least(1),
    )
    # > 0: train on the CPU in this many processes (gloo).
    cpu_processes: int = option(
        0,
        flag="--cpu-processes",
        help="Train on the CPU in this many processes (gloo), even where GPUs exist.",
        check=at_least(0),
        show_default=False,
    )
    seed: int = option(0, flag="--seed")
    # Minutes between timed checkpoints; 0: epoch ends only.
    checkpoint_every: float = option(
        30.0,
        flag="--checkpoint-every",
        help="Minutes between checkpoints (0: at epoch ends).",
        check=at_least(0, " minutes"),
    )
    # Stop after this many optimizer steps in all; 0: no limit.
    max_steps: int = option(
        0,
        flag="--max-steps",
        help="Stop after this many steps (0: no limit).",
        check=at_least(0, " (0: no limit)"),
    )
    log_every: int = option(
        50, flag="--log-every", help="Steps between metrics lines.", check=at_least(1)
    )
    # An experiment tracker that gets every metrics line and the configuration: none |
    # tensorboard | wandb | mlflow | aim (each an extra: pip install 'visim[tensorboard]').
    log_with: str = option(
        "none",
        flag="--log-with",
        help="Experiment tracker for the metrics and the configuration (each an extra):",
        choices=LOG_WITH_CHOICES,
    )
    quiet: bool = option(
        False,
        flag="--quiet",
        help="Plain log lines instead of the live display.",
        show_default=False,
    )
    # Consecutive non-finite losses that stop the run.
    max_nonfinite_steps: int = option(5, check=at_least(1))
    # Warn when std(z/|z|) < collapse_ratio / sqrt(proj_dim).
    collapse_ratio: float = option(0.2, check=Check(lambda value: 0 < value < 1, "in (0, 1)"))
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


# Section name -> its dataclass, e.g. "optim" -> OptimConfig.
_SECTIONS: dict[str, type] = typing.get_type_hints(TrainConfig)

# "section.field" -> the option metadata of that field (empty for fields without any).
OPTIONS: dict[str, Mapping[str, Any]] = {
    f"{section}.{f.name}": f.metadata
    for section, kind in _SECTIONS.items()
    for f in dataclasses.fields(kind)
}
# Command-line option -> "section.field". Error messages name options through this table.
CLI_OPTIONS: dict[str, str] = {
    meta["flag"]: path for path, meta in OPTIONS.items() if "flag" in meta
}
_OPTION_OF = {path: option for option, path in CLI_OPTIONS.items()}
# Options whose value is a name from a fixed list.
CHOICES: dict[str, tuple[str, ...]] = {
    path: meta["choices"] for path, meta in OPTIONS.items() if "choices" in meta
}
# Options with a bound that validate() checks.
_CHECKS: dict[str, Check] = {
    path: meta["check"] for path, meta in OPTIONS.items() if "check" in meta
}


def option_name(path: str) -> str:
    """How a user sets `path` ("optim.batch_size"): its flag, else its TOML key."""
    section, key = path.split(".")
    return _OPTION_OF.get(path, f"[{section}] {key}")


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
    for path, check in _CHECKS.items():
        section, key = path.split(".")
        problem = check.problem(option_name(path), getattr(getattr(config, section), key))
        if problem is not None:
            raise ConfigError(problem)
    o, r = config.optim, config.runtime
    if not 0 <= o.warmup_epochs <= o.epochs:
        raise ConfigError(
            f"{option_name('optim.warmup_epochs')} must be in [0, --epochs], "
            f"got {o.warmup_epochs!r}"
        )
    if r.gpus is not None and r.cpu_processes:
        raise ConfigError("--gpus and --cpu-processes exclude each other: pick one")
    try:
        config.recipe  # noqa: B018 - building it validates preset and size
    except ValueError as error:
        raise ConfigError(f"--recipe/--size: {error}") from None
