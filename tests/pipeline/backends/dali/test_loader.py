"""The dali backend against the loader contract, on an array source and on an image folder.

Every random choice is fed into the graph from (seed, epoch, rank, batch), so the exact
replay checks (same seed, resume) hold with random crops and every colour op on.
"""

import dataclasses
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms.v2 import functional as F

pytest.importorskip("nvidia.dali", reason="the dali extra is not installed")

from tests.pipeline import loader_contract as contract  # noqa: E402
from tests.pipeline.image_files import rgb_image, save  # noqa: E402
from visim.pipeline.augment.recipe import AugmentationRecipe  # noqa: E402
from visim.pipeline.backends.dali.graph import solarize_table  # noqa: E402
from visim.pipeline.backends.dali.loader import DALITwoViewLoader  # noqa: E402
from visim.pipeline.backends.dali.view_params import (  # noqa: E402
    DALI_COLUMNS,
    ROI_END,
    ROI_START,
    DaliColumn,
    draw_batch_view_params,
)
from visim.pipeline.backends.loader_spec import LoaderSpec  # noqa: E402
from visim.pipeline.backends.registry import make_loader  # noqa: E402
from visim.pipeline.sources.arrays import ArraySource  # noqa: E402
from visim.pipeline.sources.base import ImageSource  # noqa: E402
from visim.pipeline.sources.image_folder import ImageFolderSource  # noqa: E402

pytestmark = pytest.mark.dali

RECIPE = AugmentationRecipe(size=16, solarize_prob=0.2)
SPEC = LoaderSpec(source="unused", recipe=RECIPE, batch_size=4, workers=2)
# Folder images: PNG and JPEG alternately, in several sizes and aspect ratios.
FOLDER_SIZES = ((16, 16), (12, 20), (24, 18), (40, 28))
COORDINATE_SIZE = 64


def write_indexed_folder(root, n: int):
    """root/<i:03d>/image.{png,jpg}: one noise image per class, so labels are arange(n)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        height, width = FOLDER_SIZES[i % len(FOLDER_SIZES)]
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        if i % 2 == 0:
            save(root / f"{i:03d}" / "image.png", image)
        else:
            save(root / f"{i:03d}" / "image.jpg", image, quality=95)
    return root


def array_source(images: np.ndarray, labels: np.ndarray) -> ArraySource:
    classes = [str(i) for i in range(len(labels))]
    return ArraySource(
        images, labels, classes, format="npz", location="<arrays>", split="train", item_prefix="x"
    )


@pytest.fixture(scope="module", params=["arrays", "folder"])
def source(request, tmp_path_factory) -> ImageSource:
    # 50 samples in batches of 4: 12 batches on one rank, 6 on two, 4 on three, some left over.
    if request.param == "arrays":
        return contract.IndexedImageSource(50, 16)
    return ImageFolderSource(write_indexed_folder(tmp_path_factory.mktemp("folder"), 50))


def factory(source: ImageSource, **overrides) -> DALITwoViewLoader:
    return DALITwoViewLoader(dataclasses.replace(SPEC, **overrides), source)


@pytest.fixture(scope="module")
def loader(source) -> DALITwoViewLoader:
    return factory(source)


def test_batch_contract(loader):
    contract.check_batch_contract(loader)


def test_two_views_of_a_sample_differ(loader):
    contract.check_views_differ(loader)


def test_identity_recipe_gives_views_equal_up_to_flip(source):
    contract.check_identity_views_equal_up_to_flip(
        factory(source, recipe=contract.identity_recipe(RECIPE))
    )


def test_identity_recipe_on_another_aspect_ratio():
    source = contract.IndexedImageSource(40, 12, 20)
    recipe = contract.identity_recipe(RECIPE, aspect=20 / 12)
    contract.check_identity_views_equal_up_to_flip(factory(source, recipe=recipe))


def test_order_follows_epoch_order(loader):
    contract.check_order_follows_epoch_order(loader)


def test_epochs_reorder(loader):
    contract.check_epochs_reorder(loader)


def test_start_batch_resumes_exactly(loader):
    contract.check_start_batch_resumes(loader, start_batch=5)


def test_same_seed_same_batches(source):
    contract.check_same_seed_same_batches(lambda **overrides: factory(source, **overrides))


@pytest.mark.parametrize("world_size", [2, 3])
def test_shards_are_disjoint_and_cover_the_epoch(source, world_size):
    contract.check_shards_disjoint_and_cover(
        lambda **overrides: factory(source, **overrides), world_size
    )


@pytest.mark.parametrize("op", ["flip", "grayscale", "blur", "jitter"])
def test_ops_fire_at_the_recipe_rate(op):
    source = contract.IndexedImageSource(500, 8)
    recipe, signature = contract.one_op_recipe(AugmentationRecipe(size=8), op)
    loader = factory(source, recipe=recipe, batch_size=50)
    contract.check_op_rate(loader, source.images, op, signature)


def test_crop_areas_aspect_ratios_and_flips_follow_the_recipe():
    source = array_source(*contract.coordinate_images(100, COORDINATE_SIZE))
    recipe = contract.identity_recipe(RECIPE).replace(
        crop_scale=(0.25, 0.75), crop_ratio=(0.75, 4 / 3)
    )
    loader = factory(source, recipe=recipe, batch_size=20)
    contract.check_crops_follow_recipe(loader, COORDINATE_SIZE)


@pytest.mark.parametrize(
    "strengths, column_index, adjust",
    [
        ({"contrast": 0.4}, DaliColumn.CONTRAST, F.adjust_contrast),
        ({"saturation": 0.4}, DaliColumn.SATURATION, F.adjust_saturation),
    ],
    ids=["contrast", "saturation"],
)
def test_jitter_factors_act_as_in_torchvision(strengths, column_index, adjust):
    # Dark noise: its mean luma is far from mid-gray, so contrast around the wrong centre shows.
    images = (contract.indexed_images(16, 8)[0] // 3).astype(np.uint8)
    source = array_source(images, np.arange(16))
    jitter_only = {"brightness": 0, "contrast": 0, "saturation": 0, "hue": 0, **strengths}
    recipe = contract.identity_recipe(RECIPE).replace(
        size=8, flip_prob=0.0, jitter_prob=1.0, **jitter_only
    )
    loader = factory(source, recipe=recipe, batch_size=16, shuffle=False)
    (batch,) = contract.collect_epoch(loader, 0)
    factors = draw_batch_view_params(np.full((16, 2), 8), recipe, 0, 0, 0, 0)[0, :, column_index]
    originals = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    expected = torch.stack([adjust(o, float(f)) for o, f in zip(originals, factors, strict=True)])
    view = contract.pixel_scale(batch.view1, recipe)
    # DALI rounds to whole levels on uint8; a wrong formula is off by tens of levels.
    torch.testing.assert_close(view, expected, atol=2.5 / 255, rtol=0)


def test_solarize_table_inverts_levels_from_the_threshold_on():
    table = solarize_table(0.5)
    assert table[:128] == list(range(128))  # 127 / 255 < 0.5 <= 128 / 255
    assert table[128:] == [255 - level for level in range(128, 256)]


def test_view_parameters_are_a_function_of_the_batch_key():
    sizes = np.array([[16, 16], [12, 20], [40, 28]])
    first = draw_batch_view_params(sizes, RECIPE, 0, 1, 0, 5)
    assert first.shape == (2, 3, DALI_COLUMNS)
    assert np.array_equal(first, draw_batch_view_params(sizes, RECIPE, 0, 1, 0, 5))
    assert not np.array_equal(first, draw_batch_view_params(sizes, RECIPE, 0, 1, 0, 6))
    top_left, bottom_right = first[..., ROI_START], first[..., ROI_END]
    assert (top_left >= 0).all() and (bottom_right <= sizes[None]).all()
    assert (bottom_right > top_left).all()


def test_jitter_off_feeds_identity_color_parameters():
    recipe = RECIPE.replace(jitter_prob=0.0, grayscale_prob=0.0)
    params = draw_batch_view_params(np.full((64, 2), 16), recipe, 0, 0, 0, 0)
    identity = {DaliColumn.BRIGHTNESS: 1, DaliColumn.CONTRAST: 1, DaliColumn.SATURATION: 1}
    for name, value in identity.items():
        assert (params[..., name] == value).all()
    assert (params[..., DaliColumn.HUE_DEGREES] == 0).all()


def taps_needed(sigma: float, kernel_size: int, tolerance: float) -> int:
    """The fewest centred taps of the normalised kernel whose left-out tails sum to at most
    `tolerance`, counted directly from the weights."""
    offsets = np.arange(kernel_size) - kernel_size // 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    weights /= weights.sum()
    for taps in range(1, kernel_size + 1, 2):
        inside = np.abs(offsets) <= taps // 2
        if weights[~inside].sum() <= tolerance:
            return taps
    raise AssertionError("the whole kernel always qualifies")


def test_blur_windows_hold_the_taps_each_sigma_needs():
    recipe = AugmentationRecipe(size=224, blur_prob=0.5)
    params = draw_batch_view_params(np.full((256, 2), 300), recipe, 0, 0, 0, 0).reshape(
        -1, DALI_COLUMNS
    )
    blurred = params[:, DaliColumn.BLUR] == 1
    assert 0 < blurred.sum() < len(params)
    assert (params[~blurred, DaliColumn.BLUR_WINDOW] == 1).all()
    sigma, window = params[blurred, DaliColumn.BLUR_SIGMA], params[blurred, DaliColumn.BLUR_WINDOW]
    # float32 sums in the feed against float64 here: a tap at the boundary may go either way.
    for s, w in zip(sigma, window, strict=True):
        assert abs(w - taps_needed(s, recipe.blur_kernel_size, 1e-4)) <= 2, (s, w)
    assert window.min() < 9 and window.max() > 15  # sigma spans 0.1 to 2: cutting pays
    assert window.max() <= recipe.blur_kernel_size


def write_broken_folder(root):
    """12 indexed images; 3 is not an image, 7 a truncated JPEG (its header reads), 8 empty."""
    write_indexed_folder(root, 12)
    (root / "003" / "image.jpg").write_text("not an image\n")
    encoded = io.BytesIO()
    rgb_image(64, 64).save(encoded, format="JPEG")
    (root / "007" / "image.jpg").write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])
    (root / "008" / "image.png").write_bytes(b"")
    return root


def test_unreadable_files_are_replaced_by_the_next_readable_one_and_reported(tmp_path):
    source = ImageFolderSource(write_broken_folder(tmp_path / "broken"))
    loader = factory(source, shuffle=False)
    with pytest.warns(RuntimeWarning) as caught:
        labels = contract.epoch_labels(contract.collect_epoch(loader, 0))
    assert [str(w.message).split(":")[0] for w in caught] == [
        f"unreadable image {source.describe(i)}" for i in (3, 7, 8)
    ]
    # The same substitutes as the torch backend picks.
    assert labels == [0, 1, 2, 4, 4, 5, 6, 9, 9, 9, 10, 11]
    assert set(loader.unreadable_items) == {3, 7, 8}
    assert loader.substitutions == 3
    # Known from now on: the next epoch feeds substitutes straight away and warns no more.
    assert contract.epoch_labels(contract.collect_epoch(loader, 0)) == labels
    assert loader.substitutions == 6


def test_a_run_of_unreadable_items_stops_with_their_names():
    source = contract.IndexedImageSource(8, 16, unreadable=frozenset(range(8)))
    named = re.escape(source.location) + r"\[\d\] and the 7 items after it are unreadable"
    with pytest.raises(RuntimeError, match=named):
        contract.collect_epoch(factory(source), 0)


def test_the_backend_registry_opens_the_spec_source():
    spec = dataclasses.replace(SPEC, source="demo:40", batch_size=8)
    loader = make_loader("dali", spec)
    assert isinstance(loader, DALITwoViewLoader) and loader.num_samples == 40
    assert not loader.gpu and loader.device == torch.device("cpu")
    contract.check_batch_contract(loader)


def test_leaving_an_epoch_early_and_starting_another(loader):
    loader.set_epoch(0)
    for _ in zip(range(2), loader, strict=False):
        pass
    assert len(contract.collect_epoch(loader, 1)) == len(loader)


def test_too_small_a_source_and_bad_start_batch_are_named(loader):
    with pytest.raises(ValueError, match="batch_size"):
        factory(contract.IndexedImageSource(3, 16))
    with pytest.raises(ValueError, match="start_batch"):
        loader.set_epoch(0, start_batch=len(loader) + 1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA devices")
def test_a_cuda_device_without_a_gpu_is_refused():
    with pytest.raises(ValueError, match="DALI sees no GPU"):
        factory(contract.IndexedImageSource(8, 16), device=torch.device("cuda", 0))


def test_one_pipeline_serves_every_whole_epoch_with_the_batches_of_a_fresh_one(source):
    loader = factory(source)
    epochs = [contract.collect_epoch(loader, epoch) for epoch in range(3)]
    assert loader.pipelines_built == 1
    fresh = factory(source)
    for epoch in (1, 2):
        for reused, new in zip(epochs[epoch], contract.collect_epoch(fresh, epoch), strict=True):
            assert torch.equal(reused.label, new.label)
            torch.testing.assert_close(reused.view1, new.view1, rtol=0, atol=0)
            torch.testing.assert_close(reused.view2, new.view2, rtol=0, atol=0)


def test_an_epoch_left_early_gets_a_new_pipeline_for_the_next(source):
    loader = factory(source)
    loader.set_epoch(0)
    for _ in zip(range(2), loader, strict=False):
        pass
    assert len(contract.collect_epoch(loader, 1)) == len(loader)
    assert len(contract.collect_epoch(loader, 2)) == len(loader)
    assert loader.pipelines_built == 2  # epoch 0's was dropped; epoch 1's served epoch 2
