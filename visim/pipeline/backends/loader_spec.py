"""What every two-view loader is built from, and the interface it offers the training loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.batch import Batch
from visim.pipeline.indexed_device import indexed_device
from visim.pipeline.sources.base import AUTO_SPLIT


@dataclass(frozen=True)
class LoaderSpec:
    """Everything a backend needs; the training loop fills it once per process."""

    source: str | Path
    recipe: AugmentationRecipe
    batch_size: int  # per process
    # Where batches are wanted: the CPU or this process's GPU (always indexed, see below).
    device: torch.device = torch.device("cpu")
    seed: int = 0
    rank: int = 0  # global rank: picks the shard
    world_size: int = 1
    workers: int = 2
    split: str = AUTO_SPLIT  # "train" where the source has splits, else the whole source
    shuffle: bool = True
    channels_last: bool = True
    # Only the synthetic backend uses this: how many samples make an epoch.
    synthetic_samples: int = 10_000

    def __post_init__(self) -> None:
        # "cuda" becomes "cuda:N" once here, so loaders compare and pass on one spelling.
        object.__setattr__(self, "device", indexed_device(self.device))


class TwoViewLoader(Protocol):
    """The loop's whole view of a backend: the same behaviour whichever engine runs it."""

    spec: LoaderSpec

    def __len__(self) -> int:
        """Batches this process yields per epoch (drop-last, equal on every rank)."""

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's order (from spec.seed and epoch) and where to start in it.

        start_batch > 0 resumes mid-epoch: the batches before it are skipped, not decoded
        where the backend allows it.
        """

    def __iter__(self) -> Iterator[Batch]:
        """Yield len(self) - start_batch batches of the current epoch."""

    @property
    def num_samples(self) -> int:
        """Samples in the whole source (all ranks)."""
