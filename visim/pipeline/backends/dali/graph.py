"""One view of the recipe as DALI operators, driven by the parameters view_params feeds.

Per view, in the torch backend's order: random-resized crop (fn.resize of the fed crop box)
-> colour jitter (fn.brightness_contrast, contrast around the view's mean luma as in
torchvision; then fn.hsv for saturation and hue) -> grayscale (fn.hsv with saturation 0,
which leaves ITU-R 601 luma in every channel) -> Gaussian blur (fn.gaussian_blur with the
view's sigma, over the taps of the recipe's kernel that sigma needs: blur_taps) -> solarize
(a lookup table) -> flip and normalise (fn.crop_mirror_normalize) -> float32 HWC.

Differences from torchvision, all small: the four jitter ops run in the fixed order above
rather than in a random order per image; DALI's hue is a rotation in YIQ space rather than
in HSV; the colour ops work on uint8, so each rounds to whole levels.

Ops whose recipe probability is 0 are left out of the graph. Blur and solarize run under a
pipeline conditional, so only the images they fire on pay for them; the jitter ops are cheap
per pixel and run on every image, with identity parameters where jitter is off.

DALI rewrites these functions for its conditionals: an `if` on a DataNode below splits the
batch per sample, an `if` on a Python value decides what is in the graph.
"""

from __future__ import annotations

import nvidia.dali.fn as fn
import nvidia.dali.types as types

from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.dali.view_params import ROI_END, ROI_START, DaliColumn

PIXEL_LEVELS = 256
TOP_LEVEL = PIXEL_LEVELS - 1


def solarize_table(threshold: float) -> list[int]:
    """uint8 level -> level after solarize: inverted where level / 255 >= threshold, as the
    other backends compare on the [0, 1] scale."""
    return [
        TOP_LEVEL - level if level / TOP_LEVEL >= threshold else level
        for level in range(PIXEL_LEVELS)
    ]


def augmented_view(images, params, recipe: AugmentationRecipe):
    """images: uint8 HWC DataNode (any size); params: float32 [DALI_COLUMNS] DataNode (CPU).

    Returns the view as float32 HWC [size, size, 3], normalised with recipe.mean/std.
    """
    view = fn.resize(
        images,
        size=[recipe.size, recipe.size],
        roi_start=params[ROI_START],
        roi_end=params[ROI_END],
        antialias=True,
    )
    if recipe.jitter_prob > 0:
        luma = fn.color_space_conversion(view, image_type=types.RGB, output_type=types.GRAY)
        view = fn.brightness_contrast(
            view,
            brightness=params[DaliColumn.BRIGHTNESS],
            contrast=params[DaliColumn.CONTRAST],
            # Argument inputs live on the CPU: on the GPU this copies one number per image.
            contrast_center=fn.reductions.mean(luma).cpu(),
        )
    if recipe.jitter_prob > 0 or recipe.grayscale_prob > 0:
        view = fn.hsv(
            view, hue=params[DaliColumn.HUE_DEGREES], saturation=params[DaliColumn.SATURATION]
        )
    if recipe.blur_prob > 0:
        view = _blur_where_drawn(view, params, recipe)
    if recipe.solarize_prob > 0:
        view = _solarize_where_drawn(view, params, recipe)
    return fn.crop_mirror_normalize(
        view,
        mirror=fn.cast(params[DaliColumn.FLIP], dtype=types.INT32),
        mean=[m * TOP_LEVEL for m in recipe.mean],
        std=[s * TOP_LEVEL for s in recipe.std],
        dtype=types.FLOAT,
        # HWC is the memory layout of a channels_last [3, H, W] tensor: no transpose needed.
        output_layout="HWC",
    )


def _blur_where_drawn(view, params, recipe: AugmentationRecipe):
    if params[DaliColumn.BLUR] > 0:  # per sample: only these images are blurred
        # Only the taps this sigma needs (blur_taps), not the recipe's whole kernel.
        window = fn.cast(params[DaliColumn.BLUR_WINDOW], dtype=types.INT32)
        view = fn.gaussian_blur(view, sigma=params[DaliColumn.BLUR_SIGMA], window_size=window)
    return view


def _solarize_where_drawn(view, params, recipe: AugmentationRecipe):
    if params[DaliColumn.SOLARIZE] > 0:  # per sample
        table = solarize_table(recipe.solarize_threshold)
        view = fn.lookup_table(
            view, keys=list(range(PIXEL_LEVELS)), values=table, dtype=types.UINT8
        )
    return view
