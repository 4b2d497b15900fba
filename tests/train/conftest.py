"""Shared pieces of the training tests: a tiny configuration that trains in seconds on the CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from visim.train.config import TrainConfig, config_from_dict, dump_config
from visim.train.launch import run_pretrain
from visim.train.run_dir import RunDir

# resnet18 with the ImageNet stem at 32 px (its stem leaves 8x8 maps, so steps are fast),
# small heads, no loader workers, no timed checkpoints. On the CPU even where a GPU exists:
# these tests check the loop's logic, and expect fp32 and bitwise-reproducible kernels (on
# CUDA, auto picks bf16 and cuDNN is free to vary); the GPU routes have tests of their own.
TINY = {
    "data": {"source": "demo:96", "backend": "torch", "recipe": "small", "size": 32, "workers": 0},
    "model": {"arch": "resnet18", "proj_dim": 64, "pred_hidden_dim": 16},
    "optim": {"epochs": 2, "batch_size": 16, "lr": 0.5},
    "runtime": {"checkpoint_every": 0, "log_every": 1, "quiet": True, "cpu_processes": 1},
}


def tiny_config(**sections: dict) -> TrainConfig:
    """TINY with the given sections' values laid over it, e.g. optim={"epochs": 3}."""
    return config_from_dict(sections, config_from_dict(TINY))


def write_toml(path: Path, config: TrainConfig) -> Path:
    path.write_text(dump_config(config))
    return path


def train_here(config: TrainConfig, out: Path, *, resume: bool = False) -> int:
    """A single-process run inside the test process (use with the fresh_accelerate fixture)."""
    return run_pretrain(config, RunDir(out), resume=resume)


def pretrain_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "visim", "pretrain", *args]


def run_pretrain_subprocess(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        pretrain_command(*args), capture_output=True, text=True, timeout=timeout, check=False
    )
