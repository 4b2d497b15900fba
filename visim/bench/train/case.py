"""One configuration of the training loop to time, and the TrainConfig that runs it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from visim.train.config import TrainConfig, config_from_dict

DEVICES = ("cpu", "cuda")


@dataclass(frozen=True)
class TrainCase:
    """Everything one measured run depends on; plain values, so it travels as JSON."""

    method: str
    arch: str
    precision: str
    channels_last: bool
    compile: bool
    backend: str
    size: int  # crop size of each view (px)
    recipe: str
    cifar_stem: bool
    batch_size: int
    device: str  # "cpu" or "cuda"
    workers: int  # loader workers (real backends)
    data: str  # what a real backend reads; "" for the synthetic backend
    samples: int  # samples per epoch of the synthetic backend
    window_steps: int  # steps per metrics window; the first window is the warm-up
    max_steps: int  # 0: train the whole first epoch
    time_color_stage: bool = False  # also time the GPU colour stage (color_stage_timing)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")

    def model_settings(self) -> tuple:
        """What a real-data case shares with the synthetic case it is compared against."""
        data_fields = {"backend", "data", "samples", "workers", "time_color_stage"}
        return tuple(
            getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in data_fields
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> TrainCase:
        return cls(**values)

    def describe(self) -> str:
        return (
            f"{self.method} {self.arch} {self.size}px {self.precision} "
            f"channels_last {'on' if self.channels_last else 'off'} "
            f"compile {'on' if self.compile else 'off'} batch {self.batch_size} {self.backend}"
        )

    def train_config(self) -> TrainConfig:
        """The run `visim pretrain` would make of these settings: one process, no timed
        checkpoints, a metrics line at the end of every window."""
        return config_from_dict(
            {
                "data": {
                    "source": self.data,
                    "backend": self.backend,
                    "recipe": self.recipe,
                    "size": self.size,
                    "workers": self.workers,
                    "synthetic_samples": self.samples,
                },
                "model": {
                    "method": self.method,
                    "arch": self.arch,
                    "cifar_stem": self.cifar_stem,
                    "channels_last": self.channels_last,
                },
                "optim": {
                    # Enough epochs that max_steps, not the schedule, ends a run on small data.
                    "epochs": max(1, self.max_steps),
                    "batch_size": self.batch_size,
                },
                "runtime": {
                    "precision": self.precision,
                    "compile": self.compile,
                    # One process on the CPU even where GPUs exist; on CUDA one GPU.
                    "cpu_processes": 1 if self.device == "cpu" else 0,
                    "max_steps": self.max_steps,
                    "log_every": self.window_steps,
                    "checkpoint_every": 0,
                    "quiet": True,
                },
            }
        )
