"""Fixed, seeded degradations of an evaluation image: the label-free check of an uncertainty.

An image that loses information should not look more certain than the original. URL
(Kirchhof et al. 2023, "croppedHasBiggerUnc") crops each image to a random fraction of its
side, drawn once per image, and scales the crop back to full size; visim does the same and
adds a Gaussian blur as a second, independent degradation (docs/method.md section 4).

Both act on the evaluation transform's output (float [3, s, s], already normalised): cropping,
bilinear resizing and a Gaussian blur are linear with weights summing to one, so they commute
with the per-channel normalisation and the result equals degrading the pixels first.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from visim.pipeline.augment.random_streams import stream_seed

DEGRADATIONS = ("cropped", "blurred")
# Side of the kept centre crop, as a fraction of the image side: uniform in this range, drawn
# per image from (seed, index), so every evaluation of every run crops an image the same way.
CROP_FRACTION_RANGE = (0.25, 0.75)
# Blur sigma as a fraction of the image side (1.6 px at 32 px, 11 px at 224 px): strong enough
# to wipe out fine texture at any resolution while the object's outline stays.
BLUR_SIGMA_FRACTION = 0.05


def crop_fraction(seed: int, index: int) -> float:
    """The fraction of the side image `index` keeps when cropped (CROP_FRACTION_RANGE)."""
    low, high = CROP_FRACTION_RANGE
    draw = np.random.default_rng(stream_seed("eval-crop", seed, index)).random()
    return low + (high - low) * float(draw)


def degrade(image: torch.Tensor, kind: str, seed: int, index: int) -> torch.Tensor:
    """`image` [3, s, s] as degradation `kind` (one of DEGRADATIONS) leaves it, same shape."""
    side = image.shape[-1]
    if kind == "cropped":
        kept = max(1, round(side * crop_fraction(seed, index)))
        crop = F.center_crop(image, [kept, kept])
        return F.resize(crop, [side, side], antialias=True)
    if kind == "blurred":
        sigma = BLUR_SIGMA_FRACTION * side
        # An odd kernel spanning +-3 sigma (at least 3 taps), clipped to the image.
        kernel = min(2 * math.ceil(3 * sigma) + 1, side if side % 2 else side - 1)
        return F.gaussian_blur(image, [max(3, kernel)] * 2, [sigma, sigma])
    raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(DEGRADATIONS)}")
