"""The pre-training run that `visim eval` evaluates: its config, its weights, its models.

The weights are verified when the run is opened, before any feature is computed: a file that
is cut short, damaged or made for another model is passed over for the next newest (the
run's default weights), or is a one-line EvalError (--checkpoint, or when none loads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file

from visim.evaluation.eval_settings import EvalError
from visim.models.siamese import SiameseModel, build_model
from visim.train.checkpoint import UnreadableCheckpoint, checkpoint_paths, load_checkpoint, one_line
from visim.train.config import ConfigError, TrainConfig
from visim.train.run_dir import RunDir


class UnusableWeights(Exception):
    """The weights file cannot be used for the run's model; the message says why."""


@dataclass(frozen=True)
class EvaluatedRun:
    run_dir: RunDir
    config: TrainConfig
    weights: Path  # model.safetensors or a checkpoints/step-*.pt
    pretrained: SiameseModel = field(repr=False)  # the run's model with those weights
    passed_over: tuple[str, ...] = ()  # newer weights that could not be used, and why

    @property
    def has_kappa(self) -> bool:
        return self.config.model.method == "vi-simsiam"

    def random_model(self) -> SiameseModel:
        """The weights training started from: seeded with the run's seed, as the trainer does.

        fork_rng leaves the caller's random state untouched by the reseeding.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.runtime.seed)
            return build_model(self.config.model)

    def pretrained_model(self) -> SiameseModel:
        return self.pretrained


def load_weights(path: Path, config: TrainConfig) -> SiameseModel:
    """The run's model with the weights in `path` (an export or a checkpoint).

    UnusableWeights when the file cannot be read or does not fit the model.
    """
    if path.suffix == ".safetensors":
        try:
            state = load_file(path)
        except Exception as error:  # safetensors raises its own error types, OSError
            raise UnusableWeights(f"cannot be read ({one_line(error)})") from None
    else:
        try:
            state = load_checkpoint(path)[1]["model"]
        except UnreadableCheckpoint as error:
            raise UnusableWeights(error.reason) from None
        except KeyError:
            raise UnusableWeights("holds no model weights") from None
    model = build_model(config.model)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        # torch lists every bad key over many lines; the last one names a concrete problem.
        detail = str(error).strip().splitlines()[-1].strip()[:200]
        raise UnusableWeights(
            f"does not fit the run's model ({config.model.method}, {config.model.arch}): {detail}"
        ) from None
    return model


def weights_newest_first(run_dir: RunDir) -> list[Path]:
    """model.safetensors and every checkpoint, the most recently written first.

    The export is written when a run ends; a resumed run that trained on has newer checkpoints.
    """
    candidates = [p for p in (run_dir.model, *checkpoint_paths(run_dir.checkpoints)) if p.exists()]
    return sorted(candidates, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def open_run(path: Path, weights: Path | None = None) -> EvaluatedRun:
    """The run at `path` with `weights` (default: its newest that loads); EvalError when
    the run or the weights cannot be used."""
    run_dir = RunDir(Path(path))
    if not run_dir.holds_run():
        raise EvalError(
            f"RUN_DIR {path}: no config.toml there; point at a directory written by "
            "`visim pretrain --out`"
        )
    try:
        config = run_dir.load_config()
    except ConfigError as error:
        raise EvalError(f"RUN_DIR {path}: {error}") from None
    if weights is not None:
        weights = Path(weights)
        if not weights.is_file():
            raise EvalError(f"--checkpoint {weights}: no such file")
        try:
            return EvaluatedRun(run_dir, config, weights, load_weights(weights, config))
        except UnusableWeights as error:
            raise EvalError(f"--checkpoint {weights}: {error}") from None
    candidates = weights_newest_first(run_dir)
    if not candidates:
        raise EvalError(
            f"RUN_DIR {path}: no checkpoint yet (no model.safetensors, nothing in "
            "checkpoints/); train further or pass --checkpoint"
        )
    passed_over = []
    for candidate in candidates:
        try:
            model = load_weights(candidate, config)
        except UnusableWeights as error:
            passed_over.append(f"{candidate}: {error}")
            continue
        return EvaluatedRun(run_dir, config, candidate, model, tuple(passed_over))
    raise EvalError(f"RUN_DIR {path}: no weights there can be used: {'; '.join(passed_over)}")
