"""What every two-view loader must do, as check functions each backend's tests call.

Sample identity. Batch carries only (view1, view2, label), so these checks identify samples
by their label: the loader's source must label sample i with i (labels = arange(N)) and hold
distinct images. `indexed_images(n, height, width)` makes such data for a test to store in its
backend's own format (npz, .beton, image folder); `IndexedImageSource` serves it in memory.

Loaders. Checks of one loader take the loader itself (built from a LoaderSpec over such a
source, small enough to iterate whole epochs: tens of samples, a few pixels a side).

Factories. Checks that need several loaders take a factory:

    factory(**spec_overrides) -> TwoViewLoader

which builds a fresh loader from the test's base LoaderSpec with the named LoaderSpec fields
replaced; the checks override `seed`, `rank` and `world_size` only. `spec_factory(make, spec)`
turns any `make(spec) -> TwoViewLoader` (such as a loader class's from_spec) into one.

Every check asserts with a message naming what broke and returns nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.batch import Batch
from visim.pipeline.backends.epoch_order import batches_per_epoch, shard_indices
from visim.pipeline.backends.loader_spec import LoaderSpec, TwoViewLoader
from visim.pipeline.sources.base import ImageSource, UnreadableImage

LoaderFactory = Callable[..., TwoViewLoader]

# Resizing and float arithmetic may step slightly outside the exact normalised range of a
# [0, 1] image; anything further out means normalisation is wrong or missing.
RANGE_SLACK = 0.05
# Views that should be equal, from the same computation; differences beyond this are real.
SAME_ATOL = 1e-4


def indexed_images(n: int, height: int, width: int | None = None, seed: int = 0):
    """(images uint8 [n, H, W, 3] of distinct noise, labels int64 arange(n))."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, height, width or height, 3), dtype=np.uint8)
    return images, np.arange(n, dtype=np.int64)


class IndexedImageSource(ImageSource):
    """indexed_images in memory; items in `unreadable` raise UnreadableImage when loaded."""

    format = "memory"

    def __init__(
        self,
        n: int,
        height: int,
        width: int | None = None,
        unreadable: frozenset[int] = frozenset(),
    ):
        self.images, self.labels = indexed_images(n, height, width)
        self.classes = [str(i) for i in range(n)]
        self.location = f"<{n} indexed images>"
        self.unreadable = unreadable

    def load(self, index: int) -> np.ndarray:
        if index in self.unreadable:
            raise UnreadableImage(self.describe(index), "marked unreadable")
        return self.images[index]

    def describe(self, index: int) -> str:
        return f"{self.location}[{index}]"


def identity_recipe(recipe: AugmentationRecipe, aspect: float = 1.0) -> AugmentationRecipe:
    """`recipe` reduced to its flip: the whole image (width / height = aspect), no colour ops."""
    return recipe.replace(
        crop_scale=(1.0, 1.0),
        crop_ratio=(aspect, aspect),
        jitter_prob=0.0,
        grayscale_prob=0.0,
        blur_prob=0.0,
        solarize_prob=0.0,
    )


def spec_factory(make: Callable[[LoaderSpec], TwoViewLoader], spec: LoaderSpec) -> LoaderFactory:
    """factory(**overrides) = make(spec with those LoaderSpec fields replaced)."""

    def factory(**overrides) -> TwoViewLoader:
        return make(dataclasses.replace(spec, **overrides))

    return factory


def collect_epoch(loader: TwoViewLoader, epoch: int, start_batch: int = 0) -> list[Batch]:
    """The batches of one epoch from start_batch on, moved to the CPU."""
    loader.set_epoch(epoch, start_batch)
    batches = [Batch(*(t.cpu() for t in batch)) for batch in loader]
    assert len(batches) == len(loader) - start_batch, (
        f"epoch {epoch} from batch {start_batch} yielded {len(batches)} batches, "
        f"but len(loader) = {len(loader)}"
    )
    return batches


def epoch_labels(batches: list[Batch]) -> list[int]:
    return torch.cat([b.label for b in batches]).tolist()


def _on_device(tensor: torch.Tensor, device: torch.device) -> bool:
    return tensor.device.type == device.type and device.index in (None, tensor.device.index)


def check_batch_contract(loader: TwoViewLoader) -> None:
    """len, shapes, dtypes, device, memory format and value range of a whole epoch."""
    spec = loader.spec
    expected_len = batches_per_epoch(loader.num_samples, spec.batch_size, spec.world_size)
    assert len(loader) == expected_len, f"len(loader) = {len(loader)}, expected {expected_len}"
    device = torch.device(spec.device)
    size = spec.recipe.size
    mean = torch.tensor(spec.recipe.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(spec.recipe.std).reshape(1, 3, 1, 1)
    low, high = (0 - mean) / std - RANGE_SLACK, (1 - mean) / std + RANGE_SLACK
    loader.set_epoch(0)
    count = 0
    for batch in loader:
        count += 1
        assert isinstance(batch, Batch), f"loader yielded {type(batch).__name__}, not Batch"
        for name, view in (("view1", batch.view1), ("view2", batch.view2)):
            shape = (spec.batch_size, 3, size, size)
            assert tuple(view.shape) == shape, f"{name} shape {tuple(view.shape)} != {shape}"
            assert view.dtype == torch.float32, f"{name} dtype {view.dtype}, expected float32"
            assert _on_device(view, device), f"{name} on {view.device}, expected {device}"
            if spec.channels_last:
                assert view.is_contiguous(memory_format=torch.channels_last), (
                    f"{name} is not channels_last"
                )
            cpu = view.cpu()
            assert torch.isfinite(cpu).all(), f"{name} has non-finite values"
            assert ((cpu >= low) & (cpu <= high)).all(), (
                f"{name} leaves the normalised range of [0, 1] images: "
                f"[{cpu.min():.3f}, {cpu.max():.3f}]"
            )
            assert cpu.std() > 0.05, f"{name} is (nearly) constant: std {cpu.std():.4f}"
        assert batch.label.dtype == torch.int64, f"label dtype {batch.label.dtype}, not int64"
        assert tuple(batch.label.shape) == (spec.batch_size,), f"label shape {batch.label.shape}"
        assert _on_device(batch.label, device), f"label on {batch.label.device}, not {device}"
    assert count == expected_len, f"an epoch yielded {count} batches, len(loader) = {expected_len}"


def check_views_differ(loader: TwoViewLoader, min_fraction: float = 0.95) -> None:
    """Under a random recipe, the two views of (nearly) every sample differ."""
    batches = collect_epoch(loader, 0)
    view1 = torch.cat([b.view1 for b in batches])
    view2 = torch.cat([b.view2 for b in batches])
    differ = (view1 - view2).flatten(1).abs().amax(dim=1) > 1e-3  # [N]
    assert differ.float().mean() >= min_fraction, (
        f"only {int(differ.sum())} of {len(differ)} samples have two different views"
    )


def check_identity_views_equal_up_to_flip(loader: TwoViewLoader) -> None:
    """Under identity_recipe, view2 is view1 or its mirror image, and both cases occur."""
    batches = collect_epoch(loader, 0)
    view1 = torch.cat([b.view1 for b in batches])
    view2 = torch.cat([b.view2 for b in batches])

    def close(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] -> bool [N]
        return (a - b).flatten(1).abs().amax(dim=1) <= SAME_ATOL

    same, mirrored = close(view1, view2), close(view1.flip(-1), view2)
    assert (same | mirrored).all(), (
        f"{int((~(same | mirrored)).sum())} of {len(same)} samples have views that differ "
        "by more than a horizontal flip under the identity recipe"
    )
    flip_prob = loader.spec.recipe.flip_prob
    if 0 < flip_prob < 1:
        assert same.any() and (mirrored & ~same).any(), (
            f"with flip_prob {flip_prob}, expected both equal and mirrored view pairs; "
            f"equal: {int(same.sum())}, mirrored: {int((mirrored & ~same).sum())}"
        )


def check_order_follows_epoch_order(
    loader: TwoViewLoader, epochs: tuple[int, ...] = (0, 1)
) -> None:
    """The labels of each epoch are exactly epoch_order.shard_indices for this rank."""
    spec = loader.spec
    for epoch in epochs:
        expected = shard_indices(
            loader.num_samples,
            seed=spec.seed,
            epoch=epoch,
            batch_size=spec.batch_size,
            rank=spec.rank,
            world_size=spec.world_size,
            shuffle=spec.shuffle,
        ).tolist()
        got = epoch_labels(collect_epoch(loader, epoch))
        assert got == expected, f"epoch {epoch} order differs from shard_indices: {got[:8]}..."


def check_epochs_reorder(loader: TwoViewLoader) -> None:
    """Each epoch uses a sample at most once, another epoch another order, a replay the same."""
    first = epoch_labels(collect_epoch(loader, 0))
    second = epoch_labels(collect_epoch(loader, 1))
    again = epoch_labels(collect_epoch(loader, 0))
    for epoch, labels in ((0, first), (1, second)):
        assert len(set(labels)) == len(labels), f"epoch {epoch} repeats samples"
    assert first != second, "epochs 0 and 1 have the same order"
    assert first == again, "replaying epoch 0 gave another order"


def check_start_batch_resumes(loader: TwoViewLoader, start_batch: int = 1, epoch: int = 1) -> None:
    """set_epoch(epoch, start_batch) yields exactly the epoch's batches from start_batch on."""
    full = collect_epoch(loader, epoch)
    resumed = collect_epoch(loader, epoch, start_batch)
    for offset, (want, got) in enumerate(zip(full[start_batch:], resumed, strict=True)):
        where = f"batch {start_batch + offset} of a resumed epoch {epoch}"
        assert torch.equal(want.label, got.label), f"{where}: other samples"
        torch.testing.assert_close(got.view1, want.view1, msg=f"{where}: other view1")
        torch.testing.assert_close(got.view2, want.view2, msg=f"{where}: other view2")


def check_same_seed_same_batches(factory: LoaderFactory, seed: int = 3) -> None:
    """Two loaders with one seed yield identical epochs; another seed another order."""
    first = collect_epoch(factory(seed=seed), 0)
    second = collect_epoch(factory(seed=seed), 0)
    for index, (a, b) in enumerate(zip(first, second, strict=True)):
        assert torch.equal(a.label, b.label), f"batch {index}: same seed, other samples"
        torch.testing.assert_close(b.view1, a.view1, msg=f"batch {index}: same seed, other view1")
        torch.testing.assert_close(b.view2, a.view2, msg=f"batch {index}: same seed, other view2")
    other = collect_epoch(factory(seed=seed + 1), 0)
    assert epoch_labels(other) != epoch_labels(first), "another seed gave the same order"


def check_shards_disjoint_and_cover(
    factory: LoaderFactory, world_size: int, epoch: int = 0
) -> None:
    """The ranks' epochs have equal length, share no sample, and together use every sample
    that epoch_order assigns to the epoch."""
    loaders = [factory(rank=rank, world_size=world_size) for rank in range(world_size)]
    shards = [epoch_labels(collect_epoch(loader, epoch)) for loader in loaders]
    spec = loaders[0].spec
    per_rank = batches_per_epoch(loaders[0].num_samples, spec.batch_size, world_size)
    for rank, shard in enumerate(shards):
        assert len(shard) == per_rank * spec.batch_size, (
            f"rank {rank} of {world_size} read {len(shard)} samples, "
            f"expected {per_rank * spec.batch_size}"
        )
    union = [label for shard in shards for label in shard]
    assert len(set(union)) == len(union), f"shards of world_size {world_size} overlap"
    used = {
        int(i)
        for rank in range(world_size)
        for i in shard_indices(
            loaders[0].num_samples,
            seed=spec.seed,
            epoch=epoch,
            batch_size=spec.batch_size,
            rank=rank,
            world_size=world_size,
            shuffle=spec.shuffle,
        )
    }
    assert set(union) == used, (
        f"shards of world_size {world_size} cover {len(set(union) & used)} of the epoch's "
        f"{len(used)} samples and {len(set(union) - used)} others"
    )


# -- Rates and crop statistics ----------------------------------------------------------------
#
# Over many views, each random op must fire at its recipe probability and crops must cover the
# recipe's area range. Rates are measured with a recipe that runs one op at a time on a
# whole-image crop of indexed_images (noise), where each op leaves a signature that nothing
# else can: see one_op_recipe. Crops are measured on coordinate_images, whose pixels say
# where they came from: see check_crops_follow_recipe.

# Views are compared on the [0, 1] pixel scale; a real change moves some pixel by more than
# uint8 rounding (half a level per step) can.
CHANGE_THRESHOLD = 1.5 / 255
SIGNATURE_ATOL = 1e-3
# Estimating a crop box from a resized view is exact only up to the resampling filter at the
# box edges: areas and aspect ratios are allowed this relative slack beyond the recipe's range.
CROP_ESTIMATE_SLACK = 0.1

Signature = Callable[[torch.Tensor, torch.Tensor], bool]


def assert_binomial_rate(hits: int, trials: int, p: float, what: str) -> None:
    """hits of trials lies within 5 binomial standard deviations of probability p."""
    rate = hits / trials
    sigma = (p * (1 - p) / trials) ** 0.5
    assert abs(rate - p) <= 5 * sigma + 1e-9, (
        f"{what}: observed rate {rate:.3f} over {trials} views, recipe probability {p}"
    )


def pixel_scale(views: torch.Tensor, recipe: AugmentationRecipe) -> torch.Tensor:
    """Undo the recipe's normalisation: float [N, 3, H, W] back on the [0, 1] scale."""
    mean = torch.tensor(recipe.mean).reshape(1, 3, 1, 1)
    std = torch.tensor(recipe.std).reshape(1, 3, 1, 1)
    return views.cpu().float() * std + mean


def epoch_pixel_views(
    loader: TwoViewLoader, epochs: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels [2N], views [2N, 3, H, W] on the [0, 1] scale): both views of every sample."""
    labels, views = [], []
    for epoch in epochs:
        for batch in collect_epoch(loader, epoch):
            labels += [batch.label, batch.label]
            views += [batch.view1, batch.view2]
    return torch.cat(labels), pixel_scale(torch.cat(views), loader.spec.recipe)


def is_mirrored(original: torch.Tensor, view: torch.Tensor) -> bool:
    return bool((view - original.flip(-1)).abs().max() < SIGNATURE_ATOL)


def is_gray(original: torch.Tensor, view: torch.Tensor) -> bool:
    """Equal channels; up to a level of rounding, which a uint8 colour transform leaves."""
    return bool((view - view[:1]).abs().max() < CHANGE_THRESHOLD)


def is_changed(original: torch.Tensor, view: torch.Tensor) -> bool:
    return bool((view - original).abs().max() > CHANGE_THRESHOLD)


def one_op_recipe(recipe: AugmentationRecipe, op: str) -> tuple[AugmentationRecipe, Signature]:
    """(recipe running only `op`, the signature `op` leaves on a view of a noise image).

    op: flip, grayscale, blur or jitter; its probability is the recipe's `ONE_OP_FIELDS[op]`.
    The view is the whole image at recipe.size, so the loader's source images must be
    recipe.size square. Blur sigmas start at 1 and jitter changes brightness only, so that
    every firing changes some pixel by several levels (a sigma of 0.1 or a factor near 1 may
    change nothing after rounding).
    """
    base = identity_recipe(recipe).replace(flip_prob=0.0)
    cases = {
        "flip": (base.replace(flip_prob=0.5), is_mirrored),
        "grayscale": (base.replace(grayscale_prob=0.2), is_gray),
        "blur": (base.replace(blur_prob=0.5, blur_sigma=(1.0, 2.0)), is_changed),
        "jitter": (
            base.replace(jitter_prob=0.8, brightness=0.4, contrast=0, saturation=0, hue=0),
            is_changed,
        ),
    }
    if op not in cases:
        raise ValueError(f"unknown op {op!r}; choose one of {', '.join(cases)}")
    return cases[op]


ONE_OP_FIELDS = {
    "flip": "flip_prob",
    "grayscale": "grayscale_prob",
    "blur": "blur_prob",
    "jitter": "jitter_prob",
}


def check_op_rate(
    loader: TwoViewLoader,
    originals: np.ndarray,
    op: str,
    signature: Signature,
    epochs: tuple[int, ...] = (0,),
) -> None:
    """Over every view of the epochs, `signature` shows at the rate the loader's recipe gives
    `op` (within binomial tolerance). The recipe and signature come from one_op_recipe.

    originals: uint8 [N, H, W, 3], the loader's source images by label (indexed_images).
    """
    probability = getattr(loader.spec.recipe, ONE_OP_FIELDS[op])
    labels, views = epoch_pixel_views(loader, epochs)
    source = torch.from_numpy(originals).permute(0, 3, 1, 2).float() / 255  # [N, 3, H, W]
    hits = sum(signature(source[label], view) for label, view in zip(labels, views, strict=True))
    assert_binomial_rate(hits, len(views), probability, op)


def coordinate_images(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [n, size, size, 3], labels arange(n)) whose pixels tell where they are.

    Red rises from 0 to 255 along each row and green down each column, so any crop of an image
    shows which columns and rows it came from; blue is noise, so samples stay distinct.
    """
    ramp = np.round(np.arange(size) * 255 / (size - 1)).astype(np.uint8)
    images = np.empty((n, size, size, 3), dtype=np.uint8)
    images[..., 0] = ramp[None, None, :]
    images[..., 1] = ramp[None, :, None]
    images[..., 2] = np.random.default_rng(seed).integers(0, 256, size=(n, size, size))
    return images, np.arange(n, dtype=np.int64)


def estimate_crops(
    views: torch.Tensor, source_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(area fraction, aspect ratio w / h, mirrored) of each view of a coordinate image.

    views: [N, 3, S, S] on the [0, 1] scale. A box w source pixels wide resized to S columns
    puts the mean source column of its first and last output columns w (1 - 1/S) apart, so
    w = that distance * S / (S - 1); likewise for rows. A flip reverses the red ramp.
    """
    size = views.shape[-1]
    coordinate = views[:, :2].double() * (source_size - 1)  # [N, 2, S, S] in source pixels
    first_col, last_col = coordinate[:, 0, :, 0].mean(1), coordinate[:, 0, :, -1].mean(1)
    first_row, last_row = coordinate[:, 1, 0, :].mean(1), coordinate[:, 1, -1, :].mean(1)
    width = (last_col - first_col).abs() * size / (size - 1)
    height = (last_row - first_row) * size / (size - 1)
    area = (width * height / source_size**2).numpy()
    return area, (width / height).numpy(), (last_col < first_col).numpy()


def check_crops_follow_recipe(
    loader: TwoViewLoader, source_size: int, epochs: tuple[int, ...] = (0, 1)
) -> None:
    """Crop areas and aspect ratios lie in the recipe's ranges and spread over them; views are
    mirrored at the recipe's flip rate.

    The loader reads coordinate_images(N, source_size) under a recipe whose colour ops are off.
    """
    recipe = loader.spec.recipe
    _, views = epoch_pixel_views(loader, epochs)
    area, aspect, mirrored = estimate_crops(views, source_size)
    low, high = recipe.crop_scale
    slack = CROP_ESTIMATE_SLACK
    assert area.min() >= low * (1 - slack) and area.max() <= high * (1 + slack), (
        f"crop areas span [{area.min():.3f}, {area.max():.3f}], recipe scale {recipe.crop_scale}"
    )
    quarter = (high - low) / 4
    assert area.min() < low + quarter and area.max() > high - quarter, (
        f"crop areas [{area.min():.3f}, {area.max():.3f}] do not spread over {recipe.crop_scale}"
    )
    ratio_low, ratio_high = recipe.crop_ratio
    assert aspect.min() >= ratio_low * (1 - slack) and aspect.max() <= ratio_high * (1 + slack), (
        f"crop aspect ratios span [{aspect.min():.3f}, {aspect.max():.3f}], "
        f"recipe ratio {recipe.crop_ratio}"
    )
    assert_binomial_rate(int(mirrored.sum()), len(mirrored), recipe.flip_prob, "flip")
