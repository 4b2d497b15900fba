"""Batches for evaluation, every image once, in source order: clean or K augmented views.

Clean: each image is resized so its short side is floor(size / eval_crop_fraction) (256 for
224 at 0.875, the usual ImageNet evaluation), centre-cropped to size x size and normalised.
Augmented: K views of each image drawn with the training recipe, seeded by (seed, index), so
the same image gets the same views in every evaluation. Degraded: the clean image, cropped or
blurred as augment/degradations.py says, also seeded by (seed, index).
Unreadable images are left out; `indices` says which source items each batch holds, so a
caller can tell which ones are missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from visim.pipeline.augment.degradations import degrade
from visim.pipeline.augment.random_streams import stream_seed
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.torch import build_view_transform
from visim.pipeline.convert.stop_points import stop_points
from visim.pipeline.sources.base import ImageSource, UnreadableImage


class EvalBatch(NamedTuple):
    """images: float32 [B, 3, s, s] normalised (channels_last), or [B, K, 3, s, s] for K
    augmented views; labels, indices: int64 [B]."""

    images: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor


def build_eval_transform(recipe: AugmentationRecipe) -> v2.Compose:
    """uint8 [3, H, W] -> float32 [3, s, s]: short-side resize, centre crop, normalise."""
    resize_to = math.floor(recipe.size / recipe.eval_crop_fraction)
    return v2.Compose(
        [
            v2.Resize(resize_to, antialias=True),  # an int resizes the short side
            v2.CenterCrop(recipe.size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(recipe.mean, recipe.std),
        ]
    )


class CleanImages(Dataset):
    """Item p -> (image [3, s, s], label, i) of source item i = indices[p] (default: p), or
    None when the item is unreadable. With `degradation` ("cropped", "blurred"), the image is
    degraded after the evaluation transform, seeded by (seed, i)."""

    def __init__(
        self,
        source: ImageSource,
        recipe: AugmentationRecipe,
        degradation: str | None = None,
        seed: int = 0,
        indices: Sequence[int] | None = None,
    ):
        self.source = source
        self.transform = build_eval_transform(recipe)
        self.degradation = degradation
        self.seed = seed
        self.indices = range(len(source)) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int, int] | None:
        index = int(self.indices[position])
        try:
            pixels = self.source.load(index)  # uint8 [H, W, 3]
        except UnreadableImage:
            return None
        image = self.transform(torch.from_numpy(pixels).permute(2, 0, 1))  # [3, s, s]
        if self.degradation is not None:
            image = degrade(image, self.degradation, self.seed, index)
        return image, int(self.source.labels[index]), index


class AugmentedViews(Dataset):
    """Item i -> (K views [K, 3, s, s] of the training recipe, label, i), or None when the
    item is unreadable. Item i's views depend on (seed, i) alone, not on the workers."""

    def __init__(
        self,
        source: ImageSource,
        recipe: AugmentationRecipe,
        views: int,
        seed: int,
        indices: Sequence[int] | None = None,
    ):
        if views < 1:
            raise ValueError(f"views must be at least 1, got {views}")
        self.source = source
        self.transform = build_view_transform(recipe)
        self.views = views
        self.seed = seed
        self.indices = range(len(source)) if indices is None else indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int, int] | None:
        index = int(self.indices[position])
        try:
            pixels = self.source.load(index)  # uint8 [H, W, 3]
        except UnreadableImage:
            return None
        image = torch.from_numpy(pixels).permute(2, 0, 1)  # [3, H, W]
        # v2 transforms draw from the global generator: reseed it inside fork_rng, leaving
        # the caller's random state as it was.
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(stream_seed("eval-views", self.seed, index))
            views = torch.stack([self.transform(image) for _ in range(self.views)])
        return views, int(self.source.labels[index]), index  # views: [K, 3, s, s]


def collate_readable(items: list[tuple[torch.Tensor, int, int] | None]) -> EvalBatch | None:
    """Stack the readable items of a batch; None when none of them was readable."""
    readable = [item for item in items if item is not None]
    if not readable:
        return None
    images, labels, indices = zip(*readable, strict=True)
    stacked = torch.stack(images)  # [B, 3, s, s], or [B, K, 3, s, s] for augmented views
    if stacked.dim() == 4:
        stacked = stacked.contiguous(memory_format=torch.channels_last)
    return EvalBatch(
        stacked,
        torch.tensor(labels, dtype=torch.int64),
        torch.tensor(indices, dtype=torch.int64),
    )


def clean_batches(
    source: ImageSource,
    recipe: AugmentationRecipe,
    batch_size: int,
    device: torch.device | str = "cpu",
    workers: int = 0,
    degradation: str | None = None,
    seed: int = 0,
    indices: Sequence[int] | None = None,
) -> Iterator[EvalBatch]:
    """Every readable image of `source` (of `indices`, default all) once, in order, in batches
    of up to batch_size; degraded by `degradation` (seeded by `seed`) when it is given."""
    dataset = CleanImages(source, recipe, degradation, seed, indices)
    return _batches(dataset, batch_size, device, workers)


def augmented_batches(
    source: ImageSource,
    recipe: AugmentationRecipe,
    views: int,
    seed: int,
    batch_size: int,
    device: torch.device | str = "cpu",
    workers: int = 0,
    indices: Sequence[int] | None = None,
) -> Iterator[EvalBatch]:
    """`views` augmented views of every readable image (of `indices`, default all), in order;
    batch_size counts images, so a batch holds batch_size * views views."""
    dataset = AugmentedViews(source, recipe, views, seed, indices)
    return _batches(dataset, batch_size, device, workers)


def _batches(
    dataset: Dataset, batch_size: int, device: torch.device | str, workers: int
) -> Iterator[EvalBatch]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    device = torch.device(device)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_readable,
        pin_memory=device.type == "cuda",
    )
    # While the workers run, Ctrl-C is noted and raised between batches (stop_points says
    # why): raised at random, it can land in the at-fork hooks that start the workers, which
    # swallow it, and the command then runs to its end as if never interrupted.
    with stop_points() as stop_check:
        for batch in loader:
            stop_check()
            if batch is None:
                continue
            yield EvalBatch(*(t.to(device, non_blocking=True) for t in batch))
