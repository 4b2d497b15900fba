"""Every random choice of the DALI graph, drawn in Python and fed in beside the images.

DALI's own random operators draw from generators that advance with every batch a pipeline has
run, so what batch b of an epoch gets depends on the pipeline's history: a resumed epoch
(start_batch > 0) or a pipeline rebuilt after a bad file would draw other augmentations.
Drawn here instead, from generators keyed by (seed, epoch, rank, batch), batch b replays
exactly however it is reached, and the probabilities are the recipe's by construction. The
draws are a few numbers per view; the pixel work stays in DALI.

Crops follow crop_box (torchvision's rule, as in the other backends); colour decisions come
from augment.batched.sample_color_params, the sampler of the FFCV backend's colour stage, so
both backends draw from the same distributions.

One view's parameters are a float32 row of DALI_COLUMNS columns, which DaliColumn names. Its
layout is the graph's, not the numba colour stage's (augment.color_view_params.ColorSlot):
the crop box, multipliers with jitter and grayscale already resolved, and the flip.
"""

from __future__ import annotations

import math
from enum import IntEnum

import numpy as np
import torch

from visim.pipeline.augment.batched import sample_color_params
from visim.pipeline.augment.batched_color_ops import gaussian_kernels
from visim.pipeline.augment.blur_taps import BLUR_TAIL_TOLERANCE, blur_radius
from visim.pipeline.augment.crop_box import CROP_ATTEMPTS, DRAWS_PER_ATTEMPT, crop_box
from visim.pipeline.augment.random_streams import stream_seed
from visim.pipeline.augment.recipe import VIEWS, AugmentationRecipe


class DaliColumn(IntEnum):
    """Columns of a view's parameter row."""

    TOP = 0  # the crop box in source pixels: rows TOP..BOTTOM, columns LEFT..RIGHT, exclusive
    LEFT = 1
    BOTTOM = 2
    RIGHT = 3
    BRIGHTNESS = 4  # multiplier; 1 where jitter is off
    CONTRAST = 5  # multiplier around the view's mean luma; 1 where jitter is off
    SATURATION = 6  # multiplier; 0 where grayscale fires (after any jitter)
    HUE_DEGREES = 7  # hue rotation; 0 where jitter is off
    BLUR = 8  # 1 where Gaussian blur fires
    BLUR_SIGMA = 9
    SOLARIZE = 10  # 1 where solarize fires
    FLIP = 11  # 1 where the view is mirrored
    BLUR_WINDOW = 12  # taps of the blur: the recipe's kernel cut to what BLUR_SIGMA needs


DALI_COLUMNS = len(DaliColumn)
# fn.resize's roi_start and roi_end: (top, left) and (bottom, right).
ROI_START = slice(DaliColumn.TOP, DaliColumn.LEFT + 1)
ROI_END = slice(DaliColumn.BOTTOM, DaliColumn.RIGHT + 1)


def blur_windows(sigma: torch.Tensor, blur: torch.Tensor, recipe: AugmentationRecipe) -> np.ndarray:
    """int [B]: the blur's window per view, 2 blur_radius + 1 taps of the recipe's kernel
    for views that are blurred, 1 for the others."""
    kernel_size = recipe.blur_kernel_size
    weights = gaussian_kernels(sigma, kernel_size, blur).numpy()
    return np.array([2 * blur_radius(row, BLUR_TAIL_TOLERANCE) + 1 for row in weights])


def draw_batch_view_params(
    image_sizes: np.ndarray, recipe: AugmentationRecipe, *key: int
) -> np.ndarray:
    """float32 [VIEWS, B, DALI_COLUMNS]: both views' parameters for images of these sizes.

    image_sizes: int [B, 2], (height, width) of each source image.
    key: the non-negative integers that name the batch, e.g. (seed, epoch, rank, batch).
    """
    batch = len(image_sizes)
    rng = np.random.default_rng(stream_seed("dali-views", *key))
    color_generator = torch.Generator().manual_seed(stream_seed("dali-colour", *key))
    scale = recipe.crop_scale
    log_ratio = (math.log(recipe.crop_ratio[0]), math.log(recipe.crop_ratio[1]))
    draws = rng.random((VIEWS, batch, CROP_ATTEMPTS, DRAWS_PER_ATTEMPT))
    params = np.zeros((VIEWS, batch, DALI_COLUMNS), dtype=np.float32)
    for view in range(VIEWS):
        rows = params[view]
        for i, (height, width) in enumerate(image_sizes):
            top, left, crop_h, crop_w = crop_box(height, width, scale, log_ratio, draws[view, i])
            rows[i, ROI_START] = top, left
            rows[i, ROI_END] = top + crop_h, left + crop_w
        color = sample_color_params(batch, recipe, color_generator)
        jitter = color.jitter.numpy()
        rows[:, DaliColumn.BRIGHTNESS] = np.where(jitter, color.brightness.numpy(), 1.0)
        rows[:, DaliColumn.CONTRAST] = np.where(jitter, color.contrast.numpy(), 1.0)
        saturation = np.where(jitter, color.saturation.numpy(), 1.0)
        rows[:, DaliColumn.SATURATION] = np.where(color.grayscale.numpy(), 0.0, saturation)
        # The recipe's hue is a fraction of the colour wheel; DALI's is in degrees.
        rows[:, DaliColumn.HUE_DEGREES] = np.where(jitter, color.hue.numpy() * 360, 0.0)
        rows[:, DaliColumn.BLUR] = color.blur.numpy()
        rows[:, DaliColumn.BLUR_SIGMA] = color.blur_sigma.numpy()
        rows[:, DaliColumn.BLUR_WINDOW] = blur_windows(color.blur_sigma, color.blur, recipe)
        rows[:, DaliColumn.SOLARIZE] = color.solarize.numpy()
        rows[:, DaliColumn.FLIP] = rng.random(batch) < recipe.flip_prob
    return params
