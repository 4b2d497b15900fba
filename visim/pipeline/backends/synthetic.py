"""Random views already on the training device: the upper bound of the training step.

One batch of views is drawn once (uniform pixels in [0, 1], normalised with the recipe, so
values sit in the same range as real views) and yielded for every batch: a loop fed by this
loader measures the model, loss and optimiser alone. The yielded view tensors are shared
between batches, so a consumer must not modify them in place.

Every synthetic sample is its own class: the label of sample i is i. Labels thus follow
epoch_order like any source's samples do, which keeps order, resumption and sharding
observable through the same Batch as every other backend.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from visim.pipeline.augment.batched_color_ops import normalize
from visim.pipeline.augment.random_streams import seeded_generator
from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.epoch_order import (
    batches_per_epoch,
    check_epoch_position,
    spec_shard_indices,
)
from visim.pipeline.backends.loader_spec import LoaderSpec


class SyntheticTwoViewLoader:
    """TwoViewLoader of spec.synthetic_samples random samples; reads no data."""

    def __init__(self, spec: LoaderSpec):
        if spec.synthetic_samples < 1:
            raise ValueError(f"synthetic_samples must be at least 1, got {spec.synthetic_samples}")
        if batches_per_epoch(spec.synthetic_samples, spec.batch_size, spec.world_size) == 0:
            raise ValueError(
                f"synthetic_samples {spec.synthetic_samples} is fewer than batch_size "
                f"{spec.batch_size} x world_size {spec.world_size}: no full batch per process"
            )
        self.spec = spec
        self.device = torch.device(spec.device)
        self.view1, self.view2 = self._draw_views()
        self._epoch = 0
        self._start_batch = 0
        self._labels = self._epoch_labels()

    @classmethod
    def from_spec(cls, spec: LoaderSpec) -> SyntheticTwoViewLoader:
        return cls(spec)

    def _draw_views(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Two normalised views [B, 3, s, s] on the device, drawn from the spec's seed."""
        spec, size = self.spec, self.spec.recipe.size
        generator = seeded_generator(self.device, "synthetic-views", spec.seed, spec.rank)
        pixels = torch.rand(
            2, spec.batch_size, 3, size, size, generator=generator, device=self.device
        )  # [2, B, 3, s, s]
        memory_format = torch.channels_last if spec.channels_last else torch.contiguous_format
        views = [
            normalize(p, spec.recipe.mean, spec.recipe.std).contiguous(memory_format=memory_format)
            for p in pixels
        ]
        return views[0], views[1]

    def _epoch_labels(self) -> torch.Tensor:
        """int64 [len * B]: this rank's sample ids of the current epoch, moved once per epoch."""
        spec = self.spec
        order = spec_shard_indices(spec, spec.synthetic_samples, self._epoch)
        return torch.from_numpy(order).to(self.device)

    @property
    def num_samples(self) -> int:
        return self.spec.synthetic_samples

    def __len__(self) -> int:
        return batches_per_epoch(self.num_samples, self.spec.batch_size, self.spec.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        check_epoch_position(epoch, start_batch, len(self))
        if epoch != self._epoch:
            self._epoch = epoch
            self._labels = self._epoch_labels()
        self._start_batch = start_batch

    def __iter__(self) -> Iterator[Batch]:
        batch = self.spec.batch_size
        for b in range(self._start_batch, len(self)):
            yield Batch(self.view1, self.view2, self._labels[b * batch : (b + 1) * batch])
