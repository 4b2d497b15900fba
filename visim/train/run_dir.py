"""The run directory: where one pre-training run keeps everything it writes.

RUN_DIR/config.toml           the resolved configuration (loads back with --config/--resume)
RUN_DIR/env.json              versions, devices, git commit, and how this run trains
RUN_DIR/metrics.jsonl         one JSON object per --log-every steps
RUN_DIR/training_curves.png   loss, kappa and its spread, alignment against the step (plots extra)
RUN_DIR/checkpoints/          step-<step>.pt, the last two
RUN_DIR/model.safetensors     the whole model at the end
RUN_DIR/backbone.safetensors  the torchvision-compatible ResNet at the end (no fc.*)
RUN_DIR/debug/                per-process records, only with [runtime] record_samples
RUN_DIR/logs/                 the experiment trackers' local files, only with --log-with
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from visim.core.atomic_write import write_text_atomically
from visim.models.model_config import ModelConfig
from visim.train.checkpoint import latest_checkpoint
from visim.train.config import TrainConfig, dump_config, load_config
from visim.train.environment import environment_report

# What a run's config.toml means where it lacks a field: visim writes every field that has a
# value, so a missing one (not None today) was added after the run was made, and the run
# trained as visim did before the field existed, not with today's default (its weights would
# not even load into today's default model). A field whose default changes after it was added
# needs no entry: runs name it.
_STORED_CONFIG_BASE = TrainConfig(model=ModelConfig(kappa_support="none"))


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def config(self) -> Path:
        return self.path / "config.toml"

    @property
    def environment(self) -> Path:
        return self.path / "env.json"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def training_curves(self) -> Path:
        return self.path / "training_curves.png"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model(self) -> Path:
        return self.path / "model.safetensors"

    @property
    def backbone(self) -> Path:
        return self.path / "backbone.safetensors"

    @property
    def debug(self) -> Path:
        return self.path / "debug"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def holds_run(self) -> bool:
        return self.config.exists()

    def latest_checkpoint(self) -> Path | None:
        return latest_checkpoint(self.checkpoints)

    def load_config(self) -> TrainConfig:
        return load_config(self.config, base=_STORED_CONFIG_BASE)

    def write_config(self, config: TrainConfig) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.config, dump_config(config))

    def write_environment(self, training: dict) -> None:
        """env.json: environment_report() plus `training` (precision, processes, device)."""
        report = {**environment_report(), "training": training}
        write_text_atomically(self.environment, json.dumps(report, indent=2) + "\n")
