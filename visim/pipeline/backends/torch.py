"""The reference backend: torchvision transforms.v2 per image inside a torch DataLoader.

It is the standard way to run the recipe, so correctness tests and throughput benchmarks
compare every other backend against it.

Determinism: the augmentations of sample i in epoch e come from a generator seeded with
(spec.seed, e, i) alone, so they do not depend on the number of workers, on which worker
draws them, or on where a resumed epoch starts.

Unreadable images: the slot of an item that raises UnreadableImage is filled by the next
readable item of the source (i + 1, i + 2, ... wrapping around) with that item's label, so an
epoch keeps its length and every rank its batch count. Each unreadable item is warned about
once and listed in `unreadable_items`; `substitutions` counts the slots filled this way.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import partial

import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torchvision.transforms import v2

from visim.pipeline.augment.random_streams import stream_seed
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.epoch_order import (
    batches_per_epoch,
    check_epoch_position,
    spec_shard_indices,
)
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.sources.base import ImageSource, UnreadableImage
from visim.pipeline.sources.factory import open_split

# How many following items to try in place of an unreadable one before giving up: a source
# with longer runs of broken files needs fixing, not hiding.
MAX_SUBSTITUTE_TRIES = 16


def build_view_transform(recipe: AugmentationRecipe) -> v2.Compose:
    """One view of the recipe as a torchvision pipeline: uint8 [3, H, W] -> float [3, s, s].

    Converting to float right after the crop lets every colour op work at full precision
    and the solarize threshold stay on the [0, 1] scale, as in the batched ops. Steps whose
    probability is 0 are left out, so they draw no random numbers.
    """
    steps: list[v2.Transform] = [
        v2.RandomResizedCrop(
            recipe.size, scale=recipe.crop_scale, ratio=recipe.crop_ratio, antialias=True
        ),
        v2.ToDtype(torch.float32, scale=True),
    ]
    if recipe.jitter_prob > 0:
        jitter = v2.ColorJitter(recipe.brightness, recipe.contrast, recipe.saturation, recipe.hue)
        steps.append(v2.RandomApply([jitter], p=recipe.jitter_prob))
    if recipe.grayscale_prob > 0:
        steps.append(v2.RandomGrayscale(p=recipe.grayscale_prob))
    if recipe.blur_prob > 0:
        blur = v2.GaussianBlur(recipe.blur_kernel_size, sigma=recipe.blur_sigma)
        steps.append(v2.RandomApply([blur], p=recipe.blur_prob))
    if recipe.solarize_prob > 0:
        steps.append(v2.RandomSolarize(recipe.solarize_threshold, p=recipe.solarize_prob))
    if recipe.flip_prob > 0:
        steps.append(v2.RandomHorizontalFlip(p=recipe.flip_prob))
    steps.append(v2.Normalize(recipe.mean, recipe.std))
    return v2.Compose(steps)


class TwoViewDataset(Dataset):
    """Item (epoch, index) -> (view1 [3, s, s], view2 [3, s, s], label, unreadable index or -1)."""

    def __init__(self, source: ImageSource, recipe: AugmentationRecipe, seed: int):
        self.source = source
        self.transform = build_view_transform(recipe)
        self.seed = seed

    def __len__(self) -> int:
        return len(self.source)

    def _load_readable(self, index: int) -> tuple[torch.Tensor, int, int]:
        """(image uint8 [3, H, W], its label, the unreadable index it replaces or -1)."""
        n = len(self.source)
        tries = min(MAX_SUBSTITUTE_TRIES, n)
        for offset in range(tries):
            candidate = (index + offset) % n
            try:
                pixels = self.source.load(candidate)  # uint8 [H, W, 3]
            except UnreadableImage:
                continue
            image = torch.from_numpy(pixels).permute(2, 0, 1)  # [3, H, W]
            return image, int(self.source.labels[candidate]), index if offset else -1
        raise RuntimeError(
            f"{self.source.describe(index)} and the {tries - 1} items after it "
            f"are unreadable in {self.source.location}; fix or re-convert the source"
        )

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        epoch, index = key
        image, label, unreadable = self._load_readable(index)
        # v2 transforms draw from the global CPU generator: reseed it for this sample inside
        # fork_rng so the caller's random state is left as it was (workers=0 runs here).
        with torch.random.fork_rng(devices=[]):
            torch.random.default_generator.manual_seed(
                stream_seed("torch-sample", self.seed, epoch, index)
            )
            view1 = self.transform(image)
            view2 = self.transform(image)
        return view1, view2, label, unreadable


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """Batches of (epoch, index) keys from epoch_order.shard_indices, from start_batch on.

    Carrying the epoch in the key lets persistent workers seed samples correctly without
    being told about set_epoch.
    """

    def __init__(self, spec: LoaderSpec, num_samples: int):
        self.spec = spec
        self.num_samples = num_samples
        self.epoch = 0
        self.start_batch = 0

    def full_length(self) -> int:
        return batches_per_epoch(self.num_samples, self.spec.batch_size, self.spec.world_size)

    def __len__(self) -> int:
        return self.full_length() - self.start_batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        spec = self.spec
        order = spec_shard_indices(spec, self.num_samples, self.epoch)
        for start in range(self.start_batch * spec.batch_size, len(order), spec.batch_size):
            yield [(self.epoch, int(i)) for i in order[start : start + spec.batch_size]]


def collate_views(
    items: list[tuple[torch.Tensor, torch.Tensor, int, int]], channels_last: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack in the worker, already in the training memory format, so pinning copies once."""
    views1, views2, labels, unreadable = zip(*items, strict=True)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    return (
        torch.stack(views1).contiguous(memory_format=memory_format),  # [B, 3, s, s]
        torch.stack(views2).contiguous(memory_format=memory_format),
        torch.tensor(labels, dtype=torch.int64),
        torch.tensor(unreadable, dtype=torch.int64),
    )


def flush_denormals(worker_id: int) -> None:
    """DataLoader worker start: treat denormal floats as zero in this process.

    torchvision's Gaussian kernel keeps its outer weights however tiny, and for many sigmas
    of the recipe's range some are denormal (exp(-x^2 / 2 sigma^2) below 1.2e-38), as are
    their products with pixels; Intel CPUs take a slow path for each such operation. On one
    2-core Xeon a 23-tap blur at sigma 0.8 took 172 ms with denormals and 12 ms without. The
    values flushed are below 1e-38, invisible in any image. (With workers=0 the transforms
    run in the caller's process, whose setting is left as it is.)
    """
    torch.set_flush_denormal(True)


class TorchTwoViewLoader:
    """TwoViewLoader over any ImageSource with torchvision transforms in DataLoader workers."""

    def __init__(self, spec: LoaderSpec, source: ImageSource):
        used_per_epoch = batches_per_epoch(len(source), spec.batch_size, spec.world_size)
        if used_per_epoch == 0:
            raise ValueError(
                f"source {source.location} has {len(source)} images, fewer than batch_size "
                f"{spec.batch_size} x world_size {spec.world_size}: no full batch per process"
            )
        self.spec = spec
        self.source = source
        self.device = torch.device(spec.device)
        self.unreadable_items: dict[int, str] = {}
        self.substitutions = 0
        self._sampler = EpochBatchSampler(spec, len(source))
        self._loader = DataLoader(
            TwoViewDataset(source, spec.recipe, spec.seed),
            batch_sampler=self._sampler,
            num_workers=spec.workers,
            collate_fn=partial(collate_views, channels_last=spec.channels_last),
            pin_memory=self.device.type == "cuda",
            # Workers hold no epoch state (keys carry it), so they can live across epochs.
            persistent_workers=spec.workers > 0,
            worker_init_fn=flush_denormals,
        )

    @classmethod
    def from_spec(cls, spec: LoaderSpec) -> TorchTwoViewLoader:
        return cls(spec, open_split(spec.source, spec.split))

    @property
    def num_samples(self) -> int:
        return len(self.source)

    def __len__(self) -> int:
        return self._sampler.full_length()

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        check_epoch_position(epoch, start_batch, len(self))
        self._sampler.epoch = epoch
        self._sampler.start_batch = start_batch

    def __iter__(self) -> Iterator[Batch]:
        memory_format = torch.channels_last if self.spec.channels_last else torch.contiguous_format
        for view1, view2, label, unreadable in self._loader:
            self._record_unreadable(unreadable)
            yield Batch(
                view1.to(self.device, non_blocking=True).contiguous(memory_format=memory_format),
                view2.to(self.device, non_blocking=True).contiguous(memory_format=memory_format),
                label.to(self.device, non_blocking=True),
            )

    def _record_unreadable(self, unreadable: torch.Tensor) -> None:
        replaced = unreadable[unreadable >= 0].tolist()
        self.substitutions += len(replaced)
        for index in replaced:
            if index not in self.unreadable_items:
                name = self.source.describe(index)
                self.unreadable_items[index] = name
                warnings.warn(
                    f"unreadable image {name}: its slot was filled by the next readable item",
                    RuntimeWarning,
                    stacklevel=2,
                )
