"""The two-view loader of one training process: its share of the data, on its device."""

from __future__ import annotations

import os

import torch

from visim.pipeline.backends.loader_spec import LoaderSpec, TwoViewLoader
from visim.pipeline.backends.loader_workers import resolve_loader_workers
from visim.pipeline.backends.registry import make_loader
from visim.train.config import ConfigError, TrainConfig
from visim.train.preflight import check_workers


def make_training_loader(
    config: TrainConfig, device: torch.device, rank: int, world: int
) -> tuple[TwoViewLoader, int]:
    """The loader of process `rank` of `world` (the global batch split among them) and its
    worker count. ConfigError naming the option at fault."""
    check_workers(config)  # a ConfigError naming --workers for callers without preflight()
    workers = resolve_loader_workers(
        config.data.workers,
        config.data.backend,
        device.type,
        # Set by visim's launcher, torchrun and accelerate launch: the processes that
        # share this machine's cores.
        processes=int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
    )
    spec = LoaderSpec(
        source=config.data.source,
        recipe=config.recipe,
        batch_size=config.optim.batch_size // world,
        device=device,
        seed=config.runtime.seed,
        rank=rank,
        world_size=world,
        workers=workers,
        channels_last=config.model.channels_last,
        synthetic_samples=config.data.synthetic_samples,
    )
    try:
        return make_loader(config.data.backend, spec), workers
    except ValueError as error:  # a source too small for one batch per process, for one
        raise ConfigError(f"DATA {config.data.source!r}: {error}") from None
