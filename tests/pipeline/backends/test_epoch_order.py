import numpy as np
import pytest

from visim.pipeline.backends.epoch_order import batches_per_epoch, epoch_permutation, shard_indices


def test_same_seed_and_epoch_give_the_same_order():
    np.testing.assert_array_equal(epoch_permutation(100, 7, 3), epoch_permutation(100, 7, 3))


def test_another_epoch_or_seed_gives_another_order():
    base = epoch_permutation(100, 7, 3)
    assert not np.array_equal(base, epoch_permutation(100, 7, 4))
    assert not np.array_equal(base, epoch_permutation(100, 8, 3))
    assert sorted(base.tolist()) == list(range(100))


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_shards_are_disjoint_equal_and_cover_the_used_samples(world_size):
    n, batch = 103, 5
    shards = [
        shard_indices(n, seed=1, epoch=2, batch_size=batch, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    per_rank = batches_per_epoch(n, batch, world_size) * batch
    assert all(len(s) == per_rank for s in shards)
    union = np.concatenate(shards)
    assert len(set(union.tolist())) == len(union)  # disjoint
    used = epoch_permutation(n, 1, 2)[: per_rank * world_size]
    assert set(union.tolist()) == set(used.tolist())  # cover what the epoch uses


def test_unshuffled_order_is_the_identity():
    idx = shard_indices(10, seed=0, epoch=5, batch_size=5, shuffle=False)
    np.testing.assert_array_equal(idx, np.arange(10))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="rank"):
        shard_indices(10, seed=0, epoch=0, batch_size=2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        batches_per_epoch(10, 0)
