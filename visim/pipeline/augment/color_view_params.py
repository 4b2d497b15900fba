"""The random decisions of the colour stage for one view, drawn inside numba code.

The same decisions and ranges as batched.sample_color_params (torchvision
ColorJitter's ranges), drawn from keyed_random instead of a torch generator. They are written
into a float64 vector [COLOR_SLOTS] whose slots ColorSlot names, so the parallel stage can
keep them in preallocated memory (numba allocations inside a parallel loop are slow) and
tests can read them. (The DALI backend's per-view row, dali.view_params.DaliColumn, has a
layout of its own: it carries crops and resolved multipliers, not these decisions.)

numba takes IntEnum members as compile-time integer constants, so the kernels index with
ColorSlot and ColorDraw directly.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from visim.pipeline.augment.batched_color_ops import JITTER_OPS, JitterOp
from visim.pipeline.augment.color_kernels import kernel
from visim.pipeline.augment.keyed_random import keyed_between, keyed_uniform
from visim.pipeline.augment.recipe import AugmentationRecipe


class ColorSlot(IntEnum):
    """Slots of a view's parameter vector; coins are 1.0 (apply) or 0.0."""

    JITTER = 0
    ORDER = 1  # ORDER + position: the JitterOp applied at that position of the jitter
    FACTOR = ORDER + JITTER_OPS  # FACTOR + JitterOp: that op's factor (hue: its shift)
    GRAYSCALE = FACTOR + JITTER_OPS
    BLUR = GRAYSCALE + 1
    BLUR_SIGMA = BLUR + 1
    SOLARIZE = BLUR_SIGMA + 1


COLOR_SLOTS = ColorSlot.SOLARIZE + 1


class ColorDraw(IntEnum):
    """The draw number of each decision in the view's stream: each decision reads its own,
    so no decision shifts another's numbers."""

    JITTER = 0
    ORDER = 1  # ORDER .. ORDER + JITTER_OPS - 2: the shuffle's swaps
    FACTOR = ORDER + JITTER_OPS - 1  # FACTOR + JitterOp
    GRAYSCALE = FACTOR + JITTER_OPS
    BLUR = GRAYSCALE + 1
    BLUR_SIGMA = BLUR + 1
    SOLARIZE = BLUR_SIGMA + 1


class ColorSettings(NamedTuple):
    """The colour part of an AugmentationRecipe as numba can take it (a tuple of numbers)."""

    jitter_prob: float
    brightness: float
    contrast: float
    saturation: float
    hue: float
    grayscale_prob: float
    blur_prob: float
    blur_sigma_min: float
    blur_sigma_max: float
    blur_kernel_size: int
    solarize_prob: float
    solarize_threshold: float

    @classmethod
    def from_recipe(cls, recipe: AugmentationRecipe) -> ColorSettings:
        return cls(
            jitter_prob=recipe.jitter_prob,
            brightness=recipe.brightness,
            contrast=recipe.contrast,
            saturation=recipe.saturation,
            hue=recipe.hue,
            grayscale_prob=recipe.grayscale_prob,
            blur_prob=recipe.blur_prob,
            blur_sigma_min=recipe.blur_sigma[0],
            blur_sigma_max=recipe.blur_sigma[1],
            blur_kernel_size=recipe.blur_kernel_size,
            solarize_prob=recipe.solarize_prob,
            solarize_threshold=recipe.solarize_threshold,
        )


@kernel
def coin(key, draw, probability):
    return 1.0 if keyed_uniform(key, draw) < probability else 0.0


@kernel
def blend_factor(key, draw, strength):
    """ColorJitter's factor for a strength: uniform in [max(0, 1 - s), 1 + s]."""
    return keyed_between(key, draw, max(0.0, 1.0 - strength), 1.0 + strength)


@kernel
def draw_color_view_params(key, settings, params):
    """Fill params [COLOR_SLOTS] with the decisions of the view whose stream is `key`."""
    params[ColorSlot.JITTER] = coin(key, ColorDraw.JITTER, settings.jitter_prob)
    # Fisher-Yates: a uniformly random order of the four jitter ops.
    for position in range(JITTER_OPS):
        params[ColorSlot.ORDER + position] = position
    for swap in range(JITTER_OPS - 1):
        last = JITTER_OPS - 1 - swap
        other = int(keyed_uniform(key, ColorDraw.ORDER + swap) * (last + 1))
        params[ColorSlot.ORDER + last], params[ColorSlot.ORDER + other] = (
            params[ColorSlot.ORDER + other],
            params[ColorSlot.ORDER + last],
        )
    params[ColorSlot.FACTOR + JitterOp.BRIGHTNESS] = blend_factor(
        key, ColorDraw.FACTOR + JitterOp.BRIGHTNESS, settings.brightness
    )
    params[ColorSlot.FACTOR + JitterOp.CONTRAST] = blend_factor(
        key, ColorDraw.FACTOR + JitterOp.CONTRAST, settings.contrast
    )
    params[ColorSlot.FACTOR + JitterOp.SATURATION] = blend_factor(
        key, ColorDraw.FACTOR + JitterOp.SATURATION, settings.saturation
    )
    params[ColorSlot.FACTOR + JitterOp.HUE] = keyed_between(
        key, ColorDraw.FACTOR + JitterOp.HUE, -settings.hue, settings.hue
    )
    params[ColorSlot.GRAYSCALE] = coin(key, ColorDraw.GRAYSCALE, settings.grayscale_prob)
    params[ColorSlot.BLUR] = coin(key, ColorDraw.BLUR, settings.blur_prob)
    params[ColorSlot.BLUR_SIGMA] = keyed_between(
        key, ColorDraw.BLUR_SIGMA, settings.blur_sigma_min, settings.blur_sigma_max
    )
    params[ColorSlot.SOLARIZE] = coin(key, ColorDraw.SOLARIZE, settings.solarize_prob)
