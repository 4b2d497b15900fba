"""The random decisions of the colour stage for one view, drawn inside numba code.

The same decisions and ranges as batched.sample_color_params (torchvision
ColorJitter's ranges), drawn from keyed_random instead of a torch generator. They are written
into a float64 vector [VIEW_PARAMS] whose slots are named below, so the parallel stage can
keep them in preallocated memory (numba allocations inside a parallel loop are slow) and
tests can read them.
"""

from __future__ import annotations

from typing import NamedTuple

from visim.pipeline.augment.batched_color_ops import BRIGHTNESS, CONTRAST, HUE, SATURATION
from visim.pipeline.augment.color_kernels import kernel
from visim.pipeline.augment.keyed_random import keyed_between, keyed_uniform
from visim.pipeline.augment.recipe import AugmentationRecipe

JITTER_OPS = 4  # brightness, contrast, saturation, hue: the op ids of batched_color_ops

# Slots of a view's parameter vector; coins are 1.0 (apply) or 0.0.
JITTER = 0
ORDER = 1  # ORDER + position: the op id applied at that position of the jitter
FACTOR = ORDER + JITTER_OPS  # FACTOR + op id: that op's factor (hue: its shift)
GRAYSCALE = FACTOR + JITTER_OPS
BLUR = GRAYSCALE + 1
BLUR_SIGMA = BLUR + 1
SOLARIZE = BLUR_SIGMA + 1
VIEW_PARAMS = SOLARIZE + 1

# Each decision reads its own draw number of the view's stream, so no decision shifts
# another's numbers.
JITTER_DRAW = 0
ORDER_DRAWS = 1  # ORDER_DRAWS .. ORDER_DRAWS + JITTER_OPS - 2: the shuffle's swaps
FACTOR_DRAWS = ORDER_DRAWS + JITTER_OPS - 1  # FACTOR_DRAWS + op id
GRAYSCALE_DRAW = FACTOR_DRAWS + JITTER_OPS
BLUR_DRAW = GRAYSCALE_DRAW + 1
BLUR_SIGMA_DRAW = BLUR_DRAW + 1
SOLARIZE_DRAW = BLUR_SIGMA_DRAW + 1


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
def draw_view_params(key, settings, params):
    """Fill params [VIEW_PARAMS] with the decisions of the view whose stream is `key`."""
    params[JITTER] = coin(key, JITTER_DRAW, settings.jitter_prob)
    # Fisher-Yates: a uniformly random order of the four jitter ops.
    for position in range(JITTER_OPS):
        params[ORDER + position] = position
    for swap in range(JITTER_OPS - 1):
        last = JITTER_OPS - 1 - swap
        other = int(keyed_uniform(key, ORDER_DRAWS + swap) * (last + 1))
        params[ORDER + last], params[ORDER + other] = params[ORDER + other], params[ORDER + last]
    params[FACTOR + BRIGHTNESS] = blend_factor(key, FACTOR_DRAWS + BRIGHTNESS, settings.brightness)
    params[FACTOR + CONTRAST] = blend_factor(key, FACTOR_DRAWS + CONTRAST, settings.contrast)
    params[FACTOR + SATURATION] = blend_factor(key, FACTOR_DRAWS + SATURATION, settings.saturation)
    params[FACTOR + HUE] = keyed_between(key, FACTOR_DRAWS + HUE, -settings.hue, settings.hue)
    params[GRAYSCALE] = coin(key, GRAYSCALE_DRAW, settings.grayscale_prob)
    params[BLUR] = coin(key, BLUR_DRAW, settings.blur_prob)
    params[BLUR_SIGMA] = keyed_between(
        key, BLUR_SIGMA_DRAW, settings.blur_sigma_min, settings.blur_sigma_max
    )
    params[SOLARIZE] = coin(key, SOLARIZE_DRAW, settings.solarize_prob)
