"""The ffcv backend against the loader contract, in both two-view modes.

FFCV compiles every new Loader with numba on its first batch (seconds each), so the loaders
are module-scoped fixtures shared by every test that can use them.

What replays and what does not: the order, the shards and the colour stage are pure
functions of (seed, epoch, rank, batch); crops and flips are drawn by numba's per-thread
generators inside FFCV and differ between loaders and runs. Tests of exact replay (same seed,
resume) therefore run under a fixed crop (scale 1, one aspect ratio) and no flip, with every
colour op on; under random crops they check the samples only. The colour ops' rates are
tested on the batched stage itself (augment/test_batched.py); here, the rates and ranges of what
FFCV draws: crop areas, aspect ratios and flips.
"""

import dataclasses
import gc
import sys
import threading
import traceback
import weakref

import numpy as np
import pytest
import torch

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")

from ffcv.loader.epoch_iterator import EpochIterator  # noqa: E402
from ffcv.reader import Reader  # noqa: E402

from tests.pipeline import loader_contract as contract  # noqa: E402
from visim.pipeline.augment.recipe import AugmentationRecipe  # noqa: E402
from visim.pipeline.backends.ffcv.loader import TWO_VIEW_MODES, FFCVTwoViewLoader  # noqa: E402
from visim.pipeline.backends.loader_spec import LoaderSpec  # noqa: E402
from visim.pipeline.backends.registry import make_loader  # noqa: E402
from visim.pipeline.convert.to_beton import WriteSettings, convert_source  # noqa: E402
from visim.pipeline.sources.arrays import ArraySource  # noqa: E402
from visim.pipeline.sources.base import ImageSource  # noqa: E402

# A reading thread that dies leaves FFCV's iterator waiting forever: fail, do not hang.
pytestmark = [pytest.mark.ffcv, pytest.mark.timeout(600)]

JPG, RAW = 0, 1  # FFCV's image mode codes
RECIPE = AugmentationRecipe(size=16, solarize_prob=0.2)
# 50 samples in batches of 4: 12 batches on one rank, 6 on two, 4 on three, some left over.
NOISE = contract.indexed_images(50, 16)
# Crop, flip and colour ops all on except the random crop and flip: every batch replays.
FIXED_CROP = RECIPE.replace(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_prob=0.0)
COORDINATE_SIZE = 64
CROP_RECIPE = contract.identity_recipe(RECIPE).replace(
    crop_scale=(0.25, 0.75), crop_ratio=(0.75, 4 / 3)
)


class VaryingSizeSource(ImageSource):
    """indexed-style noise images (label i for image i) of several sizes and aspect ratios."""

    format = "memory"
    split = "train"
    location = "<varying sizes>"
    SIZES = ((16, 16), (12, 20), (24, 18), (40, 28))

    def __init__(self, n: int) -> None:
        rng = np.random.default_rng(0)
        self.images = [
            rng.integers(0, 256, size=(*self.SIZES[i % len(self.SIZES)], 3), dtype=np.uint8)
            for i in range(n)
        ]
        self.labels = np.arange(n, dtype=np.int64)
        self.classes = [str(i) for i in range(n)]

    def load(self, index: int) -> np.ndarray:
        return self.images[index]

    def describe(self, index: int) -> str:
        return f"{self.location}[{index}]"


def array_source(images: np.ndarray, labels: np.ndarray) -> ArraySource:
    classes = [str(i) for i in range(len(labels))]
    return ArraySource(
        images, labels, classes, format="npz", location="<arrays>", split="train", item_prefix="x"
    )


def write_beton(source: ImageSource, path, **settings):
    convert_source(source, path, WriteSettings(workers=1, **settings))
    return path


@pytest.fixture(scope="module")
def betons(tmp_path_factory):
    folder = tmp_path_factory.mktemp("betons")
    mixed = write_beton(
        VaryingSizeSource(40),
        folder / "mixed.beton",
        write_mode="proportion",
        compress_probability=0.5,
    )
    # The identity test must see both encodings: a 2**-39 chance that one is missing.
    assert set(Reader(str(mixed)).metadata["f0"]["mode"].tolist()) == {JPG, RAW}
    coordinates = contract.coordinate_images(48, COORDINATE_SIZE)
    return {
        "noise": write_beton(array_source(*NOISE), folder / "noise.beton", write_mode="raw"),
        "mixed": mixed,
        "coordinates": write_beton(
            array_source(*coordinates), folder / "coordinates.beton", write_mode="raw"
        ),
    }


def make(betons, mode: str, beton: str = "noise", **overrides) -> FFCVTwoViewLoader:
    """A loader over one of the betons; workers=1 compiles faster than a parallel pipeline."""
    spec = LoaderSpec(source=betons[beton], recipe=RECIPE, batch_size=4, workers=1)
    return FFCVTwoViewLoader(dataclasses.replace(spec, **overrides), two_view_mode=mode)


@pytest.fixture(scope="module", params=TWO_VIEW_MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def random_loader(betons, mode) -> FFCVTwoViewLoader:
    # Two workers compile the decoder of decode-once as a parallel (prange) loop, as in use;
    # decode-twice's stock decoders are FFCV's own and skip that slower compilation here.
    return make(betons, mode, workers=2 if mode == "decode-once" else 1)


@pytest.fixture(scope="module")
def fixed_crop_loader(betons, mode) -> FFCVTwoViewLoader:
    return make(betons, mode, recipe=FIXED_CROP)


def test_batch_contract(random_loader):
    contract.check_batch_contract(random_loader)


def test_two_views_of_a_sample_differ(random_loader):
    contract.check_views_differ(random_loader)


def test_order_follows_epoch_order(random_loader):
    contract.check_order_follows_epoch_order(random_loader)


def test_epochs_reorder(random_loader):
    contract.check_epochs_reorder(random_loader)


def test_start_batch_resumes_with_the_same_samples(random_loader):
    full = contract.collect_epoch(random_loader, 1)
    resumed = contract.collect_epoch(random_loader, 1, start_batch=5)
    assert contract.epoch_labels(resumed) == contract.epoch_labels(full[5:])


def test_start_batch_resumes_exactly_under_a_fixed_crop(fixed_crop_loader):
    contract.check_start_batch_resumes(fixed_crop_loader, start_batch=5)


def test_same_seed_same_batches_under_a_fixed_crop(betons, mode):
    contract.check_same_seed_same_batches(
        lambda **overrides: make(betons, mode, recipe=FIXED_CROP, **overrides)
    )


def test_identity_recipe_on_jpg_and_raw_images_of_varying_sizes(betons, mode):
    # Under a fixed crop both views come from the same decoded image: decode-once cuts them
    # from one decode, decode-twice decodes the same bytes twice.
    recipe = contract.identity_recipe(RECIPE)
    contract.check_identity_views_equal_up_to_flip(make(betons, mode, "mixed", recipe=recipe))


def test_crop_areas_aspect_ratios_and_flips_follow_the_recipe(betons, mode):
    loader = make(betons, mode, "coordinates", recipe=CROP_RECIPE, batch_size=8)
    contract.check_crops_follow_recipe(loader, COORDINATE_SIZE, epochs=(0, 1, 2))


def test_shards_are_disjoint_and_cover_the_epoch(betons, mode):
    # Sharding is one TraversalOrder for both modes: two and three ranks once, two for the other.
    for world_size in (2, 3) if mode == "decode-once" else (2,):
        contract.check_shards_disjoint_and_cover(
            lambda **overrides: make(betons, mode, **overrides), world_size
        )


def test_leaving_an_epoch_early_and_starting_another(random_loader):
    random_loader.set_epoch(0)
    for _ in zip(range(2), random_loader, strict=False):
        pass
    assert len(contract.collect_epoch(random_loader, 1)) == len(random_loader)


def test_leaving_an_epoch_early_stops_ffcvs_reading_thread(random_loader):
    # A reading thread still running numba code when the interpreter exits aborts it.
    random_loader.set_epoch(0)
    batches = iter(random_loader)
    next(batches)
    readers = [t for t in threading.enumerate() if isinstance(t, EpochIterator)]
    assert readers and all(t.is_alive() for t in readers)
    batches.close()
    assert not any(t.is_alive() for t in readers)


def test_the_callers_torch_thread_count_survives_ffcvs_worker_setting(betons, random_loader):
    # FFCV sets torch's thread count to its worker count when a Loader is built and when its
    # reading thread starts an epoch; the training step must not run on that many.
    before = torch.get_num_threads()
    callers = random_loader.spec.workers + 1
    torch.set_num_threads(callers)
    try:
        make(betons, "decode-twice", workers=1)  # built, never iterated: nothing to compile
        assert torch.get_num_threads() == callers
        contract.collect_epoch(random_loader, 0)
        assert torch.get_num_threads() == callers
    finally:
        torch.set_num_threads(before)


class _Cycle:
    """Garbage only the cyclic collector frees."""

    def __init__(self) -> None:
        self.me = self


def _plant_failing_garbage(armed: list[bool]) -> None:
    garbage = _Cycle()
    weakref.finalize(garbage, _fail_and_replant, armed)


def _fail_and_replant(armed: list[bool]) -> object:
    if armed:  # so that every collection, not only the first, finds a failing finalizer
        _plant_failing_garbage(armed)
    return {}["missing"]  # a subscript: 3.11's traceback parses this line to underline it


def test_a_collection_while_ffcv_writes_its_code_cannot_break_the_build(betons, monkeypatch):
    # numba's dispatcher finalizers raise during collections; a hook that formats the error
    # (as pytest's does) parses source, which on CPython 3.11 breaks an ast.parse it interrupts.
    formatted: list[str] = []
    monkeypatch.setattr(
        sys,
        "unraisablehook",
        lambda u: formatted.append("".join(traceback.format_exception(u.exc_value))),
    )
    thresholds = gc.get_threshold()
    armed = [True]
    _plant_failing_garbage(armed)
    gc.set_threshold(1)  # a collection at nearly every allocation, FFCV's parsing included
    try:
        make(betons, "decode-twice", workers=1)  # built, never iterated: nothing to compile
    finally:
        gc.set_threshold(*thresholds)
        armed.clear()
        gc.collect()  # the last planted finalizer runs here, not inside pytest's own parsing
    assert gc.isenabled()
    # Ours ran and were formatted (the suite's leftover numba finalizers may join them).
    assert any("KeyError: 'missing'" in text for text in formatted)


def test_the_backend_registry_opens_a_beton(betons):
    spec = LoaderSpec(source=betons["noise"], recipe=RECIPE, batch_size=8, workers=1)
    loader = make_loader("ffcv", spec)
    assert isinstance(loader, FFCVTwoViewLoader) and loader.two_view_mode == "decode-once"
    assert loader.num_samples == 50 and len(loader) == 6


def test_bad_sources_and_settings_are_named(betons, tmp_path):
    with pytest.raises(ValueError, match=r"reads a \.beton file.*visim convert"):
        FFCVTwoViewLoader(LoaderSpec(source=tmp_path, recipe=RECIPE, batch_size=4))
    with pytest.raises(ValueError, match="fewer than batch_size 32 x world_size 2"):
        make(betons, "decode-once", batch_size=32, world_size=2)
    with pytest.raises(ValueError, match="two_view_mode must be one of decode-once, decode-twice"):
        make(betons, "decode-thrice")
