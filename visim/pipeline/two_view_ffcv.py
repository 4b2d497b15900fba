"""The ffcv backend: a .beton in, two views out; FFCV decodes, crops and flips on CPU threads.

FFCV 1.0.2 has no hue, grayscale, blur or solarize, so the rest of the recipe runs as the
batched torch colour stage on the training device (batched_augment). Two ways to get the two
crops, selectable per loader:

- "decode-once" (default): TwoViewRandomResizedCropDecoder decodes each JPEG once and cuts both
  views from it.
- "decode-twice": FFCV's stock route, a second named pipeline on the same field, so each view
  has its own RandomResizedCropRGBImageDecoder and every JPEG is decoded twice.

Order and sharding are epoch_order.shard_indices, fed to FFCV through a TraversalOrder, so one
FFCV Loader (and one numba compilation, which costs 6-60 s) serves every epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from ffcv.fields.basics import IntDecoder
from ffcv.fields.rgb_image import RandomResizedCropRGBImageDecoder
from ffcv.loader import Loader
from ffcv.pipeline import PipelineSpec
from ffcv.transforms import RandomHorizontalFlip, ToDevice, ToTensor, ToTorchImage
from ffcv.traversal_order.base import TraversalOrder

from visim.pipeline.batch import Batch
from visim.pipeline.batched_augment import augment_colors_and_normalize
from visim.pipeline.epoch_order import batches_per_epoch, shard_indices
from visim.pipeline.ffcv_decode_once import TwoViewRandomResizedCropDecoder
from visim.pipeline.loader_spec import LoaderSpec
from visim.pipeline.random_streams import seeded_generator

TwoViewMode = Literal["decode-once", "decode-twice"]
TWO_VIEW_MODES: tuple[TwoViewMode, ...] = ("decode-once", "decode-twice")
# The faster of the two on the benchmark (benchmarks/pipeline.md).
DEFAULT_TWO_VIEW_MODE: TwoViewMode = "decode-once"

# Field names that `visim convert` writes.
IMAGE_FIELD = "image"
LABEL_FIELD = "label"
SECOND_VIEW_OUTPUT = "image2"


class EpochShardOrder(TraversalOrder):
    """FFCV traversal order that yields this rank's epoch_order.shard_indices.

    FFCV counts epochs itself; ours come from set_epoch (a resumed run starts anywhere), so
    FFCV's epoch argument is ignored. Skipped batches are sliced off the front, so resuming
    mid-epoch decodes nothing it does not return.
    """

    def __init__(self, spec: LoaderSpec) -> None:
        # TraversalOrder.__init__ needs the Loader, which exists only once FFCV calls us.
        self.spec = spec
        self.num_samples = 0
        self.epoch = 0
        self.start_batch = 0

    def __call__(self, loader: Loader) -> EpochShardOrder:
        """FFCV's Loader binds a TraversalOrder instance by calling it with itself."""
        self.num_samples = loader.reader.num_samples
        return self

    def sample_order(self, epoch: int) -> np.ndarray:
        indices = shard_indices(
            self.num_samples,
            seed=self.spec.seed,
            epoch=self.epoch,
            batch_size=self.spec.batch_size,
            rank=self.spec.rank,
            world_size=self.spec.world_size,
            shuffle=self.spec.shuffle,
        )
        return indices[self.start_batch * self.spec.batch_size :]


def _label_pipeline(device: torch.device) -> list:
    return [IntDecoder(), ToTensor(), ToDevice(device, non_blocking=True)]


def _view_transforms(spec: LoaderSpec) -> list:
    """After a crop decoder: flip, then to a uint8 [B, 3, S, S] tensor on the device."""
    return [
        RandomHorizontalFlip(spec.recipe.flip_prob),
        ToTensor(),
        ToDevice(spec.device, non_blocking=True),
        ToTorchImage(channels_last=True),
    ]


def _crop_decoder(spec: LoaderSpec) -> RandomResizedCropRGBImageDecoder:
    recipe = spec.recipe
    return RandomResizedCropRGBImageDecoder(
        (recipe.size, recipe.size), scale=recipe.crop_scale, ratio=recipe.crop_ratio
    )


def build_pipelines(spec: LoaderSpec, mode: TwoViewMode) -> dict:
    """FFCV pipelines for `mode`; batches come out as (image, label[, image2])."""
    recipe = spec.recipe
    if mode == "decode-once":
        decoder = TwoViewRandomResizedCropDecoder(
            recipe.size, recipe.crop_scale, recipe.crop_ratio, recipe.flip_prob
        )
        # uint8 [B, 2, S, S, 3] on the device; split into views in torch.
        image = [decoder, ToTensor(), ToDevice(spec.device, non_blocking=True)]
        return {IMAGE_FIELD: image, LABEL_FIELD: _label_pipeline(spec.device)}
    return {
        IMAGE_FIELD: [_crop_decoder(spec), *_view_transforms(spec)],
        LABEL_FIELD: _label_pipeline(spec.device),
        SECOND_VIEW_OUTPUT: PipelineSpec(
            IMAGE_FIELD, decoder=_crop_decoder(spec), transforms=_view_transforms(spec)
        ),
    }


def _check_beton(source: str | Path) -> Path:
    path = Path(source).expanduser()
    if path.suffix != ".beton" or not path.is_file():
        raise ValueError(
            f"the ffcv backend reads a .beton file, got {str(source)!r}; write one with "
            "`visim convert SRC OUT.beton`"
        )
    return path


class FFCVTwoViewLoader:
    """Two-view batches from a .beton written by `visim convert` (fields image, label)."""

    def __init__(
        self,
        spec: LoaderSpec,
        two_view_mode: TwoViewMode = DEFAULT_TWO_VIEW_MODE,
        batches_ahead: int = 3,
    ) -> None:
        if two_view_mode not in TWO_VIEW_MODES:
            raise ValueError(
                f"two_view_mode must be one of {', '.join(TWO_VIEW_MODES)}, got {two_view_mode!r}"
            )
        self.spec = spec
        self.two_view_mode = two_view_mode
        self._order = EpochShardOrder(spec)
        self._loader = Loader(
            str(_check_beton(spec.source)),
            batch_size=spec.batch_size,
            num_workers=spec.workers,
            order=self._order,
            pipelines=build_pipelines(spec, two_view_mode),
            drop_last=True,
            batches_ahead=batches_ahead,
        )
        self._epoch = 0
        self._start_batch = 0

    @classmethod
    def from_spec(cls, spec: LoaderSpec) -> FFCVTwoViewLoader:
        return cls(spec)

    @property
    def num_samples(self) -> int:
        return self._order.num_samples

    def __len__(self) -> int:
        return batches_per_epoch(self.num_samples, self.spec.batch_size, self.spec.world_size)

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        if epoch < 0:
            raise ValueError(f"epoch must be non-negative, got {epoch}")
        if not 0 <= start_batch <= len(self):
            raise ValueError(f"start_batch must be in [0, {len(self)}], got {start_batch}")
        self._epoch, self._start_batch = epoch, start_batch
        self._order.epoch, self._order.start_batch = epoch, start_batch

    def __iter__(self) -> Iterator[Batch]:
        # Colour randomness replays per (seed, epoch, rank, start); the crops come from numba's
        # per-thread generators inside FFCV and do not.
        generator = seeded_generator(
            self.spec.device,
            "ffcv-colour",
            self.spec.seed,
            self._epoch,
            self.spec.rank,
            self._start_batch,
        )
        recipe = self.spec.recipe
        for outputs in self._loader:
            # FFCV reuses its output buffers a few batches later: everything yielded is a copy
            # (the colour stage allocates new views; labels are cloned).
            if self.two_view_mode == "decode-once":
                crops, labels = outputs  # uint8 [B, 2, S, S, 3], int64 [B, 1]
                views = [crops[:, v].permute(0, 3, 1, 2) for v in range(2)]  # [B, 3, S, S]
            else:
                first, labels, second = outputs  # uint8 [B, 3, S, S] channels_last
                views = [first, second]
            view1, view2 = (augment_colors_and_normalize(v, recipe, generator) for v in views)
            yield Batch(view1, view2, labels.reshape(-1).to(torch.int64, copy=True))
