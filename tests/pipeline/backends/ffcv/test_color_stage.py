"""The numba colour stage of the ffcv backend on the CPU, against the batched torch stage.

Kernels are compared with the batched_color_ops op of the same name on float images (same
float32 arithmetic, so to a few ulps); whole views with the same decisions are compared with
augment.batched.apply_color_params in uint8 levels (the stage rounds once, at the end). The
decisions themselves are checked for their rates and ranges, and the FFCV operation inside a
real Loader for doing exactly what the direct call does.
"""

import math
from itertools import permutations

import numpy as np
import pytest
import torch

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")

from ffcv.fields.basics import IntDecoder  # noqa: E402
from ffcv.loader import Loader, OrderOption  # noqa: E402
from ffcv.pipeline import PipelineSpec  # noqa: E402
from ffcv.pipeline.state import State  # noqa: E402
from ffcv.transforms import ToTensor  # noqa: E402

from tests.pipeline import loader_contract as contract  # noqa: E402
from visim.pipeline.augment import batched_color_ops as ops  # noqa: E402
from visim.pipeline.augment import blur_taps  # noqa: E402
from visim.pipeline.augment import color_kernels as kernels  # noqa: E402
from visim.pipeline.augment.batched import ColorParams, apply_color_params  # noqa: E402
from visim.pipeline.augment.batched_color_ops import JITTER_OPS, JitterOp  # noqa: E402
from visim.pipeline.augment.color_view_params import (  # noqa: E402
    COLOR_SLOTS,
    ColorSettings,
    ColorSlot,
    draw_color_view_params,
)
from visim.pipeline.augment.keyed_random import view_key  # noqa: E402
from visim.pipeline.augment.recipe import AugmentationRecipe  # noqa: E402
from visim.pipeline.backends.ffcv.color_stage import RecipeColorStage  # noqa: E402
from visim.pipeline.backends.ffcv.color_view import (  # noqa: E402
    augment_view,
    augment_views,
    params_shape,
    scratch_rows_shape,
)
from visim.pipeline.backends.ffcv.decode_once import TwoViewRandomResizedCropDecoder  # noqa: E402
from visim.pipeline.backends.ffcv.loader import collection_paused  # noqa: E402
from visim.pipeline.convert.manifest import IMAGE_FIELD, LABEL_FIELD  # noqa: E402
from visim.pipeline.convert.to_beton import WriteSettings, convert_source  # noqa: E402
from visim.pipeline.sources.arrays import ArraySource  # noqa: E402

pytestmark = [
    pytest.mark.ffcv,
    # A reading thread that dies leaves FFCV's iterator waiting forever: fail, do not hang.
    pytest.mark.timeout(600),
    # numba's dispatcher finalizer raises KeyError when a collected FFCV Loader's compiled
    # pipeline is freed (ffcv 1.0.2 with numba 0.68); harmless, and not ours to fix.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <finalize object:pytest.PytestUnraisableExceptionWarning"
    ),
]

SIZE = 16
RECIPE = AugmentationRecipe(size=SIZE, solarize_prob=0.3)
NO_COLOR = RECIPE.replace(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0)
FLOAT_ATOL = 1e-5  # float32 ops computed in a different order
LEVEL_ATOL = 1  # one uint8 level: the stage's final rounding plus float noise


def float_images(n: int = 6, seed: int = 0) -> torch.Tensor:
    """float [n, 3, S, S] in [0, 1], with a gray image and saturated pixels among them."""
    images = torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))
    images[0] = 0.5  # gray: hue and saturation are undefined there
    images[1, :, :4] = 1.0  # saturated: the clamp matters
    return images


def uint8_views(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


def as_planes(image: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """[3, H, W] -> the kernels' layout, three float32 planes [H * W] (copies)."""
    planes = image.reshape(3, -1).numpy().copy()
    return planes[0], planes[1], planes[2]


def from_planes(planes: tuple[np.ndarray, ...]) -> torch.Tensor:
    """Three float32 planes [H * W] -> [3, H, W]."""
    return torch.from_numpy(np.stack(planes)).reshape(3, SIZE, SIZE)


def run_kernel(kernel, images: torch.Tensor, values: list[float]) -> torch.Tensor:
    """kernel(r, g, b, value) on each image alone -> [n, 3, S, S]."""
    out = []
    for image, value in zip(images, values, strict=True):
        planes = as_planes(image)
        kernel(*planes, np.float32(value))
        out.append(from_planes(planes))
    return torch.stack(out)


@pytest.mark.parametrize(
    "ours, theirs, values",
    [
        (kernels.adjust_brightness, ops.adjust_brightness, [0.0, 0.6, 1.0, 1.4, 1.7, 2.0]),
        (kernels.adjust_saturation, ops.adjust_saturation, [0.0, 0.6, 1.0, 1.4, 1.7, 2.0]),
        (kernels.adjust_hue, ops.adjust_hue, [-0.5, -0.3, -0.05, 0.0, 0.1, 0.5]),
    ],
    ids=["brightness", "saturation", "hue"],
)
def test_pixel_kernels_match_the_batched_ops(ours, theirs, values):
    images = float_images()
    expected = theirs(images, torch.tensor(values))
    torch.testing.assert_close(run_kernel(ours, images, values), expected, rtol=0, atol=FLOAT_ATOL)


def test_contrast_blends_towards_the_mean_luma_that_luma_sum_gives():
    images = float_images()
    factors = [0.0, 0.6, 1.0, 1.4, 1.7, 2.0]
    out = []
    for image, factor in zip(images, factors, strict=True):
        planes = as_planes(image)
        mean = kernels.luma_sum(*planes) / len(planes[0])
        assert mean == pytest.approx(ops.luma(image[None]).mean().item(), abs=1e-6)
        kernels.adjust_contrast(*planes, np.float32(factor), np.float32(mean))
        out.append(from_planes(planes))
    expected = ops.adjust_contrast(images, torch.tensor(factors))
    torch.testing.assert_close(torch.stack(out), expected, rtol=0, atol=FLOAT_ATOL)


def test_grayscale_kernel_matches_the_batched_op():
    images = float_images()
    out = []
    for image in images:
        planes = as_planes(image)
        kernels.to_grayscale(*planes)
        out.append(from_planes(planes))
    expected = ops.grayscale(images, torch.ones(len(images), dtype=torch.bool))
    torch.testing.assert_close(torch.stack(out), expected, rtol=0, atol=FLOAT_ATOL)


def test_gaussian_weights_match_the_batched_kernels():
    sigmas = [0.1, 0.7, 2.0]
    weights = np.empty(RECIPE.blur_kernel_size, np.float32)
    expected = ops.gaussian_kernels(
        torch.tensor(sigmas), RECIPE.blur_kernel_size, torch.ones(3, dtype=torch.bool)
    )
    for sigma, want in zip(sigmas, expected, strict=True):
        kernels.gaussian_weights(np.float32(sigma), weights)
        torch.testing.assert_close(torch.from_numpy(weights), want, rtol=0, atol=1e-6)


# 0.1: only the centre tap matters; 3.0: the 23-tap kernel is too short to leave any out.
@pytest.mark.parametrize("sigma, expected_radius", [(0.1, 0), (1.0, 4), (2.0, 8), (3.0, 11)])
@pytest.mark.parametrize(
    "blur_radius", [kernels.blur_radius, blur_taps.blur_radius], ids=["numba", "python"]
)
def test_blur_radius_keeps_the_fewest_taps_that_leave_out_at_most_the_tolerance(
    blur_radius, sigma, expected_radius
):
    weights = np.empty(23, np.float32)
    kernels.gaussian_weights(np.float32(sigma), weights)
    tolerance = np.float32(1e-4)
    radius = blur_radius(weights, tolerance)
    centre = len(weights) // 2

    def left_out(r: int) -> float:
        return float(weights[: centre - r].sum() + weights[centre + r + 1 :].sum())

    assert left_out(radius) <= tolerance
    assert radius == 0 or left_out(radius - 1) > tolerance
    assert radius == expected_radius


def test_store_rounds_and_solarizes_at_the_threshold():
    pixels = np.array([[0.0, 0.2, 0.4999], [0.5, 0.8, 1.0]], dtype=np.float32)
    planes = tuple(np.ascontiguousarray(pixels.T))  # r, g, b of the two pixels
    plain, solarized = np.empty((2, 3), np.uint8), np.empty((2, 3), np.uint8)
    kernels.store_pixels(*planes, plain, False, np.float32(0.5))
    kernels.store_pixels(*planes, solarized, True, np.float32(0.5))
    np.testing.assert_array_equal(plain, [[0, 51, 127], [128, 204, 255]])
    np.testing.assert_array_equal(solarized, [[0, 51, 127], [128, 51, 0]])


def scratch_for(views: int, recipe: AugmentationRecipe = RECIPE):
    """Per-sample scratch for a batch of n samples, as the FFCV stage declares it."""
    k = recipe.blur_kernel_size

    def allocate(n: int):
        return (
            np.zeros((n, *params_shape(views))),
            np.zeros((n, *scratch_rows_shape(recipe.size, k)), np.float32),
            np.zeros((n, k), np.float32),
        )

    return allocate


def drawn_params(n: int, recipe: AugmentationRecipe = RECIPE, stream: int = 7) -> np.ndarray:
    """float64 [n, COLOR_SLOTS]: the decisions of view 0 of samples 0..n-1 of a stream."""
    settings = ColorSettings.from_recipe(recipe)
    params = np.zeros((n, COLOR_SLOTS))
    for sample in range(n):
        key = np.uint64(view_key(np.uint64(stream), sample, 0))  # back from Python int
        draw_color_view_params(key, settings, params[sample])
    return params


def as_color_params(params: np.ndarray) -> ColorParams:
    """The numba stage's decisions [n, COLOR_SLOTS] as the batched torch stage's ColorParams."""
    p = torch.from_numpy(params)
    factor = p[:, ColorSlot.FACTOR : ColorSlot.FACTOR + JITTER_OPS].to(torch.float32)
    return ColorParams(
        jitter=p[:, ColorSlot.JITTER] != 0,
        jitter_order=p[:, ColorSlot.ORDER : ColorSlot.ORDER + JITTER_OPS].to(torch.int64),
        brightness=factor[:, JitterOp.BRIGHTNESS],
        contrast=factor[:, JitterOp.CONTRAST],
        saturation=factor[:, JitterOp.SATURATION],
        hue=factor[:, JitterOp.HUE],
        grayscale=p[:, ColorSlot.GRAYSCALE] != 0,
        blur=p[:, ColorSlot.BLUR] != 0,
        blur_sigma=p[:, ColorSlot.BLUR_SIGMA].to(torch.float32),
        solarize=p[:, ColorSlot.SOLARIZE] != 0,
    )


def augment_each(views: np.ndarray, params: np.ndarray, recipe: AugmentationRecipe = RECIPE):
    """augment_view on each of views uint8 [n, S, S, 3] in turn -> a new array."""
    out = views.copy()
    _, rows, weights = scratch_for(1, recipe)(1)
    for view, view_params in zip(out, params, strict=True):
        augment_view(view, view_params, recipe.solarize_threshold, rows[0], weights[0])
    return out


def levels_off(ours: np.ndarray, expected: torch.Tensor) -> np.ndarray:
    """|ours - expected| in uint8 levels per view: ours uint8 [n, S, S, 3], expected float
    [n, 3, S, S] in [0, 1]."""
    theirs = expected.permute(0, 2, 3, 1).numpy() * 255
    return np.abs(ours.astype(np.float64) - theirs).reshape(len(ours), -1).max(axis=1)


def test_whole_views_match_the_batched_stage_with_the_same_decisions():
    n = 64
    views = uint8_views(n)
    params = drawn_params(n)
    # The draws must exercise what is compared: every op on and off, contrast at each place.
    for slot in (ColorSlot.JITTER, ColorSlot.GRAYSCALE, ColorSlot.BLUR, ColorSlot.SOLARIZE):
        assert 0 < params[:, slot].sum() < n, f"slot {slot} is the same in every view"
    contrast_at = (params[:, ColorSlot.ORDER : ColorSlot.ORDER + 4] == JitterOp.CONTRAST).argmax(
        axis=1
    )
    assert set(contrast_at[params[:, ColorSlot.JITTER] != 0]) == {0, 1, 2, 3}
    expected = apply_color_params(
        torch.from_numpy(views).permute(0, 3, 1, 2), as_color_params(params), RECIPE
    )
    off = levels_off(augment_each(views, params), expected)
    assert off.max() <= LEVEL_ATOL, f"views {np.flatnonzero(off > LEVEL_ATOL)} off by {off.max()}"


def test_blur_at_a_larger_size_matches_the_batched_blur():
    # At 16 px the kernel is 3 wide; here the ring of rows and the reflection span 11.
    recipe = RECIPE.replace(size=96)
    assert recipe.blur_kernel_size == 11
    views = np.random.default_rng(1).integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    params = np.zeros((3, COLOR_SLOTS))
    params[:, ColorSlot.BLUR] = 1
    params[:, ColorSlot.BLUR_SIGMA] = [0.1, 1.0, 2.0]
    expected = ops.gaussian_blur(
        ops.to_float_images(torch.from_numpy(views).permute(0, 3, 1, 2)),
        torch.tensor([0.1, 1.0, 2.0]),
        recipe.blur_kernel_size,
        torch.ones(3, dtype=torch.bool),
    )
    ours = augment_each(views, params, recipe)
    theirs = expected.permute(0, 2, 3, 1).numpy() * 255
    assert np.abs(ours.astype(np.float64) - theirs).max() <= LEVEL_ATOL


def test_decisions_fire_at_the_recipe_rates_and_factors_stay_in_range():
    n = 20_000
    params = drawn_params(n)
    for slot, p in [
        (ColorSlot.JITTER, RECIPE.jitter_prob),
        (ColorSlot.GRAYSCALE, RECIPE.grayscale_prob),
        (ColorSlot.BLUR, RECIPE.blur_prob),
        (ColorSlot.SOLARIZE, RECIPE.solarize_prob),
    ]:
        rate = params[:, slot].mean()
        assert abs(rate - p) <= 5 * math.sqrt(p * (1 - p) / n), f"slot {slot}: {rate} vs {p}"
    for op, low, high in [
        (JitterOp.BRIGHTNESS, 1 - RECIPE.brightness, 1 + RECIPE.brightness),
        (JitterOp.CONTRAST, 1 - RECIPE.contrast, 1 + RECIPE.contrast),
        (JitterOp.SATURATION, 1 - RECIPE.saturation, 1 + RECIPE.saturation),
        (JitterOp.HUE, -RECIPE.hue, RECIPE.hue),
    ]:
        factor = params[:, ColorSlot.FACTOR + op]
        assert low <= factor.min() < low + 0.01 and high - 0.01 < factor.max() <= high
    sigma = params[:, ColorSlot.BLUR_SIGMA]
    assert RECIPE.blur_sigma[0] <= sigma.min() and sigma.max() <= RECIPE.blur_sigma[1]


def test_jitter_orders_are_uniform_permutations():
    n = 24_000
    orders = drawn_params(n)[:, ColorSlot.ORDER : ColorSlot.ORDER + JITTER_OPS].astype(int)
    counts = {order: 0 for order in permutations(range(4))}
    for order in map(tuple, orders):
        counts[order] += 1  # a KeyError here would be an order that is no permutation
    expected, sd = n / 24, math.sqrt(n / 24 * (1 - 1 / 24))
    assert all(abs(c - expected) <= 5 * sd for c in counts.values()), counts


def test_strength_zero_gives_identity_factors():
    params = drawn_params(100, RECIPE.replace(brightness=0.0, hue=0.0))
    assert (params[:, ColorSlot.FACTOR + JitterOp.BRIGHTNESS] == 1).all()
    assert (params[:, ColorSlot.FACTOR + JitterOp.HUE] == 0).all()


def test_decisions_are_a_function_of_stream_sample_and_view():
    settings = ColorSettings.from_recipe(RECIPE)

    def draw(stream: int, sample: int, view: int) -> np.ndarray:
        params = np.zeros(COLOR_SLOTS)
        draw_color_view_params(
            np.uint64(view_key(np.uint64(stream), sample, view)), settings, params
        )
        return params

    np.testing.assert_array_equal(draw(3, 10, 1), draw(3, 10, 1))
    for other in [(4, 10, 1), (3, 11, 1), (3, 10, 0)]:
        assert not np.array_equal(draw(3, 10, 1), draw(*other)), other


def test_all_probabilities_zero_leave_views_untouched():
    views = uint8_views(8).reshape(4, 2, SIZE, SIZE, 3)
    out = views.copy()
    settings = ColorSettings.from_recipe(NO_COLOR)
    augment_views(out, np.arange(4), 0, np.uint64(1), settings, *scratch_for(2)(4))
    np.testing.assert_array_equal(out, views)


def test_jitter_with_identity_factors_round_trips_exactly():
    identity = NO_COLOR.replace(
        jitter_prob=1.0, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0
    )
    views = uint8_views(8).reshape(4, 2, SIZE, SIZE, 3)
    out = views.copy()
    settings = ColorSettings.from_recipe(identity)
    augment_views(out, np.arange(4), 0, np.uint64(1), settings, *scratch_for(2)(4))
    np.testing.assert_array_equal(out, views)


def test_batch_views_draw_by_sample_id_and_view_offset():
    views = uint8_views(8).reshape(4, 2, SIZE, SIZE, 3)
    settings = ColorSettings.from_recipe(RECIPE)
    ids = np.array([5, 1, 9, 2])
    both = views.copy()
    augment_views(both, ids, 0, np.uint64(3), settings, *scratch_for(2)(4))
    # One view per call, as a pipeline per view runs it: view 1 is first_view=1.
    second = np.ascontiguousarray(views[:, 1:])
    augment_views(second, ids, 1, np.uint64(3), settings, *scratch_for(1)(4))
    np.testing.assert_array_equal(second[:, 0], both[:, 1])
    # Parallel and in any batch order: sample 9 alone gets what it got in the batch.
    alone = np.ascontiguousarray(views[2:3])
    augment_views(alone, ids[2:3], 0, np.uint64(3), settings, *scratch_for(2)(1))
    np.testing.assert_array_equal(alone[0], both[2])


N_IMAGES, BATCH = 12, 4


@pytest.fixture(scope="module")
def stage_loader(tmp_path_factory):
    """A two-worker FFCV Loader: whole-image crop (so the crops are the stored images), the
    colour stage, ToTensor; the stream key changes every batch it asks for."""
    path = tmp_path_factory.mktemp("beton") / "images.beton"
    images, labels = contract.indexed_images(N_IMAGES, SIZE)
    source = ArraySource(
        images,
        labels,
        [str(i) for i in labels],
        format="npz",
        location="<arrays>",
        split="train",
        item_prefix="x",
    )
    convert_source(source, path, WriteSettings(workers=1, write_mode="raw"))
    decoder = TwoViewRandomResizedCropDecoder(SIZE, (1.0, 1.0), (1.0, 1.0), flip_prob=0.0)
    keys = iter(range(100, 1000))
    asked: list[int] = []

    def stream_key() -> int:
        asked.append(next(keys))
        return asked[-1]

    with collection_paused():  # FFCV's code generation, as the product builds it
        loader = Loader(
            str(path),
            batch_size=BATCH,
            num_workers=2,
            order=OrderOption.SEQUENTIAL,
            pipelines={
                IMAGE_FIELD: PipelineSpec(
                    IMAGE_FIELD,
                    decoder=decoder,
                    transforms=[RecipeColorStage(RECIPE, stream_key), ToTensor()],
                ),
                LABEL_FIELD: [IntDecoder(), ToTensor()],
            },
        )
    return loader, images, asked


def test_the_stage_in_an_ffcv_loader_does_what_the_direct_call_does(stage_loader):
    loader, images, asked = stage_loader
    asked.clear()
    batches = [(crops.numpy().copy(), labels.numpy().reshape(-1)) for crops, labels in loader]
    assert len(batches) == N_IMAGES // BATCH == len(asked)
    settings = ColorSettings.from_recipe(RECIPE)
    for (crops, labels), key in zip(batches, asked, strict=True):
        assert crops.shape == (BATCH, 2, SIZE, SIZE, 3) and crops.dtype == np.uint8
        expected = np.repeat(images[labels][:, None], 2, axis=1)  # [B, 2, S, S, 3]
        augment_views(expected, labels, 0, np.uint64(key), settings, *scratch_for(2)(BATCH))
        np.testing.assert_array_equal(crops, expected)
        assert not np.array_equal(crops[:, 0], crops[:, 1]), "both views got one decision"


def test_the_stage_rejects_what_is_not_uint8_crops_of_the_recipe_size():
    stage = RecipeColorStage(RECIPE, lambda: 0)
    state = State(jit_mode=True, device=torch.device("cpu"), shape=(2, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"uint8 crops \[B, \(views,\) 16, 16, 3\]"):
        stage.declare_state_and_memory(state)
