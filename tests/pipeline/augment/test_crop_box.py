import math

import numpy as np
import pytest

from visim.pipeline.augment.crop_box import CROP_ATTEMPTS, DRAWS_PER_ATTEMPT, crop_box

SCALE = (0.3, 0.7)
LOG_RATIO = (math.log(0.5), math.log(2.0))


def random_draws(rng: np.random.Generator) -> np.ndarray:
    return rng.random((CROP_ATTEMPTS, DRAWS_PER_ATTEMPT))


def test_boxes_lie_inside_the_image_with_area_and_ratio_in_range():
    rng = np.random.default_rng(0)
    height, width = 200, 300
    boxes = np.array(
        [crop_box(height, width, SCALE, LOG_RATIO, random_draws(rng)) for _ in range(2000)]
    )
    top, left, crop_h, crop_w = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + crop_h <= height).all() and (left + crop_w <= width).all()
    area = crop_h * crop_w / (height * width)
    # Rounding the box to whole pixels moves the area by under 1 %.
    assert area.min() >= SCALE[0] * 0.99 and area.max() <= SCALE[1] * 1.01
    assert area.min() < 0.32 and area.max() > 0.68  # the whole range is used
    ratio = crop_w / crop_h
    assert ratio.min() >= 0.5 * 0.98 and ratio.max() <= 2.0 * 1.02
    # Positions are uniform over the room left: both edges get reached.
    assert top.min() == 0 and (top + crop_h).max() == height


def test_the_draws_decide_the_box():
    draws = np.full((CROP_ATTEMPTS, DRAWS_PER_ATTEMPT), 0.5)
    # Area 0.5 of 100x100 at ratio 1 (the middle of the log range): a centred 71x71 box.
    assert crop_box(100, 100, SCALE, LOG_RATIO, draws) == (15, 15, 71, 71)


@pytest.mark.parametrize(
    "height, width, ratio, box",
    [
        (100, 100, (2.0, 3.0), (25, 0, 50, 100)),  # image narrower than any allowed ratio
        (100, 100, (0.25, 0.5), (0, 25, 100, 50)),  # wider
        (80, 120, (1.5, 1.5), (0, 0, 80, 120)),  # the whole image fits the ratio
    ],
)
def test_when_no_attempt_fits_the_largest_central_box_in_range_is_cut(height, width, ratio, box):
    # Scale 1 with an aspect ratio other than the image's never fits: every attempt fails.
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    draws = np.full((CROP_ATTEMPTS, DRAWS_PER_ATTEMPT), 0.5)
    assert crop_box(height, width, (1.0, 1.0), log_ratio, draws) == box


def test_numba_compiles_it_to_the_same_boxes():
    numba = pytest.importorskip("numba", reason="numba comes with the ffcv extra")
    compiled = numba.njit(crop_box)
    rng = np.random.default_rng(1)
    scale, log_ratio = np.array(SCALE), np.array(LOG_RATIO)
    for _ in range(20):
        draws = random_draws(rng)
        height, width = np.uint32(rng.integers(20, 400)), np.uint32(rng.integers(20, 400))
        assert compiled(height, width, scale, log_ratio, draws) == crop_box(
            int(height), int(width), SCALE, LOG_RATIO, draws
        )
