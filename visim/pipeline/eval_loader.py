"""Clean, unaugmented batches for evaluation: every image once, in source order.

Each image is resized so its short side is floor(size / eval_crop_fraction) (256 for 224 at
0.875, the usual ImageNet evaluation), centre-cropped to size x size and normalised.
Unreadable images are left out; `indices` says which source items each batch holds, so a
caller can tell which ones are missing.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from visim.pipeline.recipe import AugmentationRecipe
from visim.pipeline.sources import ImageSource, UnreadableImage


class EvalBatch(NamedTuple):
    """images: float32 [B, 3, s, s] normalised (channels_last); labels, indices: int64 [B]."""

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
    """Item i -> (image [3, s, s], label, i), or None when the item is unreadable."""

    def __init__(self, source: ImageSource, recipe: AugmentationRecipe):
        self.source = source
        self.transform = build_eval_transform(recipe)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int, int] | None:
        try:
            pixels = self.source.load(index)  # uint8 [H, W, 3]
        except UnreadableImage:
            return None
        image = torch.from_numpy(pixels).permute(2, 0, 1)  # [3, H, W]
        return self.transform(image), int(self.source.labels[index]), index


def collate_readable(items: list[tuple[torch.Tensor, int, int] | None]) -> EvalBatch | None:
    """Stack the readable items of a batch; None when none of them was readable."""
    readable = [item for item in items if item is not None]
    if not readable:
        return None
    images, labels, indices = zip(*readable, strict=True)
    return EvalBatch(
        torch.stack(images).contiguous(memory_format=torch.channels_last),  # [B, 3, s, s]
        torch.tensor(labels, dtype=torch.int64),
        torch.tensor(indices, dtype=torch.int64),
    )


def clean_batches(
    source: ImageSource,
    recipe: AugmentationRecipe,
    batch_size: int,
    device: torch.device | str = "cpu",
    workers: int = 0,
) -> Iterator[EvalBatch]:
    """Every readable image of `source` once, in index order, in batches of up to batch_size."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    device = torch.device(device)
    loader = DataLoader(
        CleanImages(source, recipe),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_readable,
        pin_memory=device.type == "cuda",
    )
    for batch in loader:
        if batch is None:
            continue
        yield EvalBatch(*(t.to(device, non_blocking=True) for t in batch))
