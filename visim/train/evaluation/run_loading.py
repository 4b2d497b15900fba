"""The pre-training run that `visim eval` evaluates: its config, its weights, its models."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from visim.models.siamese import SiameseModel, build_model
from visim.train.checkpoint import load_checkpoint
from visim.train.config import ConfigError, TrainConfig
from visim.train.evaluation.eval_error import EvalError
from visim.train.run_dir import RunDir


@dataclass(frozen=True)
class EvaluatedRun:
    run_dir: RunDir
    config: TrainConfig
    weights: Path  # model.safetensors or a checkpoints/step-*.pt

    @property
    def has_kappa(self) -> bool:
        return self.config.model.method == "vi-simsiam"

    def loader_workers(self, requested: int | None) -> int:
        """Data-loading processes for reading images for this run: `requested`, else the
        run's own --workers."""
        return self.config.data.workers if requested is None else requested

    def random_model(self) -> SiameseModel:
        """The weights training started from: seeded with the run's seed, as the trainer does.

        fork_rng leaves the caller's random state untouched by the reseeding.
        """
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.runtime.seed)
            return build_model(self.config.model)

    def pretrained_model(self) -> SiameseModel:
        model = build_model(self.config.model)
        if self.weights.suffix == ".safetensors":
            state = load_file(self.weights)
        else:
            state = load_checkpoint(self.weights)[1]["model"]
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            # torch lists every bad key over many lines; the last one names a concrete problem.
            detail = str(error).strip().splitlines()[-1].strip()[:200]
            raise EvalError(
                f"{self.weights}: does not fit the run's model "
                f"({self.config.model.method}, {self.config.model.arch}): {detail}"
            ) from None
        return model


def newest_weights(run_dir: RunDir) -> Path | None:
    """The most recently written of model.safetensors and the latest checkpoint, if any.

    The export is written when a run ends; a resumed run that trained on has newer checkpoints.
    """
    candidates = [p for p in (run_dir.model, run_dir.latest_checkpoint()) if p and p.exists()]
    return max(candidates, key=lambda p: p.stat().st_mtime_ns, default=None)


def open_run(path: Path, weights: Path | None = None) -> EvaluatedRun:
    """The run at `path` with `weights` (default: its newest); EvalError when unusable."""
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
    if weights is None:
        weights = newest_weights(run_dir)
        if weights is None:
            raise EvalError(
                f"RUN_DIR {path}: no checkpoint yet (no model.safetensors, nothing in "
                "checkpoints/); train further or pass --checkpoint"
            )
    elif not Path(weights).is_file():
        raise EvalError(f"--checkpoint {weights}: no such file")
    return EvaluatedRun(run_dir, config, Path(weights))
