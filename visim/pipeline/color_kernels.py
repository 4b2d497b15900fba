"""The recipe's per-pixel colour math for numba: rows of float32 pixels [N, 3] in [0, 1].

Each function is the op of the same name in batched_color_ops for one image with scalar
parameters, with the same semantics (blends clamp to [0, 1] after each op, ITU-R 601 luma,
hue by HSV rotation, blur weights exp(-x^2 / (2 sigma^2)) normalised, reflect padding). They
work in place on whatever [N, 3] array they get: the colour stage passes one image row at a
time, so the row stays in L1 cache through every op; tests pass whole images
(image.reshape(-1, 3)) and compare with the torch ops.

All arithmetic is float32, like the torch ops: Python float literals would promote numba's
arithmetic to float64 and halve its SIMD width, hence the float32 constants.
"""

from __future__ import annotations

import numba
import numpy as np

# Compiled once per process on first use, as plain (not parallel) functions that the
# parallel colour stage calls per sample; nogil lets the training thread run meanwhile.
kernel = numba.njit(fastmath=True, nogil=True, error_model="numpy")

LUMA_R, LUMA_G, LUMA_B = np.float32(0.2989), np.float32(0.587), np.float32(0.114)
ZERO, ONE, TWO, FOUR, SIX = (np.float32(x) for x in (0.0, 1.0, 2.0, 4.0, 6.0))
MAX_LEVEL = np.float32(255.0)
HALF = np.float32(0.5)
# HSV -> RGB: channel c of (r, g, b) reads the hue wheel at offset 5, 3, 1 sixths.
HUE_OFFSETS = (np.float32(5.0), np.float32(3.0), np.float32(1.0))


@kernel
def clamp01(x):
    return min(max(x, ZERO), ONE)


@kernel
def load_pixels(source, pixels):
    """uint8 [N, 3] -> float32 [N, 3] in [0, 1]."""
    for i in range(source.shape[0]):
        for c in range(3):
            pixels[i, c] = np.float32(source[i, c]) / MAX_LEVEL


@kernel
def store_pixels(pixels, destination, solarize, threshold):
    """float32 [N, 3] in [0, 1] -> uint8 [N, 3], rounded; inverts values >= threshold first
    when solarize is set (the recipe's last colour op, fused into the store)."""
    for i in range(pixels.shape[0]):
        for c in range(3):
            x = pixels[i, c]
            if solarize and x >= threshold:
                x = ONE - x
            destination[i, c] = np.uint8(min(max(np.floor(x * MAX_LEVEL + HALF), ZERO), MAX_LEVEL))


@kernel
def luma_sum(pixels):
    """Sum of the pixels' luma, in float64 so a whole image's sum stays exact enough."""
    total = 0.0
    for i in range(pixels.shape[0]):
        total += LUMA_R * pixels[i, 0] + LUMA_G * pixels[i, 1] + LUMA_B * pixels[i, 2]
    return total


@kernel
def blend_towards(pixels, factor, target):
    """clamp(factor * x + (1 - factor) * target) with one target for every pixel."""
    offset = (ONE - factor) * target
    for i in range(pixels.shape[0]):
        for c in range(3):
            pixels[i, c] = clamp01(pixels[i, c] * factor + offset)


@kernel
def adjust_brightness(pixels, factor):
    blend_towards(pixels, factor, ZERO)


@kernel
def adjust_contrast(pixels, factor, mean_luma):
    """mean_luma: the mean luma of the whole image before this op, as torchvision takes it,
    which a single row cannot know; the caller computes it."""
    blend_towards(pixels, factor, mean_luma)


@kernel
def adjust_saturation(pixels, factor):
    """Blend each pixel towards its own luma."""
    keep = ONE - factor
    for i in range(pixels.shape[0]):
        gray = LUMA_R * pixels[i, 0] + LUMA_G * pixels[i, 1] + LUMA_B * pixels[i, 2]
        for c in range(3):
            pixels[i, c] = clamp01(pixels[i, c] * factor + gray * keep)


@kernel
def adjust_hue(pixels, shift):
    """Rotate hue by `shift` (a fraction of the colour wheel, in [-0.5, 0.5]) in HSV.

    Written without data-dependent branches or float remainders (each a library call), so
    the loop compiles to selects; the wrap-arounds below are single steps because every
    quantity stays within one turn of its range.
    """
    shift6 = SIX * shift
    for i in range(pixels.shape[0]):
        r, g, b = pixels[i, 0], pixels[i, 1], pixels[i, 2]
        value = max(r, g, b)
        chroma = value - min(r, g, b)
        inv_chroma = ONE / chroma if chroma > ZERO else ZERO
        # Hue in sixths of the wheel from the largest channel, red winning ties, in
        # [-1, 5); a gray pixel (no chroma) gets hue 0 and stays gray under any rotation.
        hue6 = (g - b) * inv_chroma
        if r != value:
            hue6 = (b - r) * inv_chroma + TWO if g == value else (r - g) * inv_chroma + FOUR
        hue6 += shift6  # in [-4, 8)
        hue6 += SIX if hue6 < ZERO else ZERO
        hue6 -= SIX if hue6 >= SIX else ZERO
        for c in range(3):
            k = HUE_OFFSETS[c] + hue6  # in [1, 11)
            k -= SIX if k >= SIX else ZERO
            # value * (1 - saturation * ramp), with value * saturation = chroma.
            pixels[i, c] = value - chroma * clamp01(min(k, FOUR - k))


@kernel
def to_grayscale(pixels):
    """Every channel becomes the pixel's luma."""
    for i in range(pixels.shape[0]):
        gray = LUMA_R * pixels[i, 0] + LUMA_G * pixels[i, 1] + LUMA_B * pixels[i, 2]
        for c in range(3):
            pixels[i, c] = gray


@kernel
def gaussian_weights(sigma, weights):
    """Fill weights [k] (k odd) with the normalised 1-D Gaussian of `sigma`."""
    centre = weights.shape[0] // 2
    total = ZERO
    for d in range(weights.shape[0]):
        x = np.float32(d - centre)
        weights[d] = np.exp(-(x * x) / (np.float32(2.0) * sigma * sigma))
        total += weights[d]
    for d in range(weights.shape[0]):
        weights[d] /= total


@kernel
def reflect_index(index, length):
    """torch's 'reflect' padding: -1 -> 1, length -> length - 2 (edge not repeated)."""
    if index < 0:
        return -index
    if index >= length:
        return 2 * (length - 1) - index
    return index


@kernel
def reflect_pad_row(line, pad):
    """line [W + 2 pad, 3] holds a row at [pad, pad + W): fill both margins by reflection."""
    width = line.shape[0] - 2 * pad
    for j in range(1, pad + 1):
        for c in range(3):
            line[pad - j, c] = line[pad + j, c]
            line[pad + width - 1 + j, c] = line[pad + width - 1 - j, c]


@kernel
def blur_row(line, weights, out):
    """Horizontal pass: out [W, 3] = the padded row line [W + k - 1, 3] convolved with weights.

    Works on the flattened rows, one weight at a time, so the inner loop is a contiguous
    multiply-add that numba vectorizes.
    """
    src = line.reshape(-1)
    dst = out.reshape(-1)
    n = dst.shape[0]
    for j in range(n):
        dst[j] = weights[0] * src[j]
    for d in range(1, weights.shape[0]):
        w = weights[d]
        for j in range(n):
            dst[j] += w * src[j + 3 * d]


@kernel
def blur_column(rows, weights, y, height, out):
    """Vertical pass for output row y: out [W, 3] = sum over d of weights[d] times the
    horizontally blurred row reflect(y + d - k // 2), which lives in rows[that row % k, :W]
    (a ring of the last k rows, enough for every output row in turn)."""
    k = weights.shape[0]
    dst = out.reshape(-1)
    n = dst.shape[0]
    for d in range(k):
        src = rows[reflect_index(y + d - k // 2, height) % k].reshape(-1)
        w = weights[d]
        if d == 0:
            for j in range(n):
                dst[j] = w * src[j]
        else:
            for j in range(n):
                dst[j] += w * src[j]
