"""Which samples each process sees in an epoch: one rule shared by every backend.

The order is a pure function of (seed, epoch), so a resumed run replays it exactly, and the
shards of one epoch are disjoint with their union covering every sample that is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from visim.pipeline.backends.loader_spec import LoaderSpec


def batches_per_epoch(num_samples: int, batch_size: int, world_size: int = 1) -> int:
    """Full per-process batches in one epoch; the remainder is dropped on every rank alike."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    return num_samples // (batch_size * world_size)


def epoch_permutation(num_samples: int, seed: int, epoch: int) -> np.ndarray:
    """The global sample order of one epoch (int64 [num_samples])."""
    rng = np.random.default_rng([seed, epoch])
    return rng.permutation(num_samples).astype(np.int64)


def shard_indices(
    num_samples: int,
    *,
    seed: int,
    epoch: int,
    batch_size: int,
    rank: int = 0,
    world_size: int = 1,
    shuffle: bool = True,
) -> np.ndarray:
    """The sample indices that process `rank` reads in `epoch`, in order.

    Every rank gets exactly batches_per_epoch(...) * batch_size indices (drop-last), taken
    round-robin from the epoch's permutation so that shards are disjoint.
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    used = batches_per_epoch(num_samples, batch_size, world_size) * batch_size * world_size
    order = (
        epoch_permutation(num_samples, seed, epoch)
        if shuffle
        else np.arange(num_samples, dtype=np.int64)
    )
    return order[:used][rank::world_size]


def spec_shard_indices(spec: LoaderSpec, num_samples: int, epoch: int) -> np.ndarray:
    """shard_indices with a loader spec's seed, batch size, rank, world size and shuffle."""
    return shard_indices(
        num_samples,
        seed=spec.seed,
        epoch=epoch,
        batch_size=spec.batch_size,
        rank=spec.rank,
        world_size=spec.world_size,
        shuffle=spec.shuffle,
    )


def check_epoch_position(epoch: int, start_batch: int, batches: int) -> None:
    """ValueError unless a loader's set_epoch(epoch, start_batch) names a place in an epoch
    of `batches` batches (start_batch == batches: the epoch is already over)."""
    if epoch < 0:
        raise ValueError(f"epoch must be non-negative, got {epoch}")
    if not 0 <= start_batch <= batches:
        raise ValueError(f"start_batch must be in [0, {batches}], got {start_batch}")
