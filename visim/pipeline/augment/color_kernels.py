"""The recipe's per-pixel colour math for numba, on planar rows: three float32 planes in [0, 1].

Each function is the op of the same name in batched_color_ops for one image with scalar
parameters, with the same semantics (blends clamp to [0, 1] after each op, ITU-R 601 luma,
hue by HSV rotation, blur weights exp(-x^2 / (2 sigma^2)) normalised, reflect padding). They
work in place on whatever planes (r, g, b) they get, each a contiguous float32 [N]: the
colour stage passes one image row at a time, so the row stays in L1 cache through every op;
tests pass whole images as planes and compare with the torch ops.

Why planes: with the channels of a pixel in three arrays, every loop below is the same
arithmetic on consecutive elements of each array, branch-free (conditionals become selects),
which LLVM turns into SIMD code; on interleaved [N, 3] pixels the same loops ran scalar,
several times slower. The crops arrive interleaved (uint8 [N, 3]), so the load splits them
into planes and the store interleaves them back.

All arithmetic is float32, like the torch ops: Python float literals would promote numba's
arithmetic to float64 and halve its SIMD width, hence the float32 constants.
"""

from __future__ import annotations

import numba
import numpy as np

from visim.pipeline.augment import blur_taps

# Compiled once per process on first use, as plain (not parallel) functions that the
# parallel colour stage calls per sample; nogil lets the training thread run meanwhile.
KERNEL_OPTIONS = {"fastmath": True, "nogil": True, "error_model": "numpy"}
kernel = numba.njit(**KERNEL_OPTIONS)
# For a loop body called once per tap: as an ordinary call LLVM kept it out of line, and the
# blur ran at half speed; numba's own inlining puts it in its caller.
inlined_kernel = numba.njit(**KERNEL_OPTIONS, inline="always")

LUMA_R, LUMA_G, LUMA_B = np.float32(0.2989), np.float32(0.587), np.float32(0.114)
ZERO, ONE, TWO, THREE, FOUR, FIVE, SIX = (np.float32(x) for x in range(7))
MAX_LEVEL = np.float32(255.0)
INV_MAX_LEVEL = np.float32(1.0 / 255.0)
HALF = np.float32(0.5)


@kernel
def clamp01(x):
    return min(max(x, ZERO), ONE)


@kernel
def luma(r, g, b):
    return LUMA_R * r + LUMA_G * g + LUMA_B * b


# The load and the store index the interleaved pixels as one flat array (pixel i's channel c
# at 3 i + c): numba's two-index form [i, c] kept LLVM from vectorizing them (three times
# slower).


@kernel
def load_pixels(source, r, g, b):
    """uint8 [N, 3] -> the planes r, g, b [N] in [0, 1]."""
    flat = source.reshape(-1)
    for i in range(r.shape[0]):
        r[i] = np.float32(flat[3 * i]) * INV_MAX_LEVEL
        g[i] = np.float32(flat[3 * i + 1]) * INV_MAX_LEVEL
        b[i] = np.float32(flat[3 * i + 2]) * INV_MAX_LEVEL


@kernel
def to_level(x, solarize, threshold):
    """A value in [0, 1] -> its rounded uint8 level, inverted first if solarize is set and
    x >= threshold. (The clamp makes the integer conversion's truncation a floor.)"""
    x = ONE - x if solarize and x >= threshold else x
    return np.uint8(np.int32(min(max(x * MAX_LEVEL + HALF, ZERO), MAX_LEVEL)))


@kernel
def store_pixels(r, g, b, destination, solarize, threshold):
    """The planes r, g, b [N] -> uint8 [N, 3], rounded; solarize (the recipe's last colour
    op) is fused into the store."""
    flat = destination.reshape(-1)
    for i in range(r.shape[0]):
        flat[3 * i] = to_level(r[i], solarize, threshold)
        flat[3 * i + 1] = to_level(g[i], solarize, threshold)
        flat[3 * i + 2] = to_level(b[i], solarize, threshold)


@kernel
def luma_sum(r, g, b):
    """Sum of the pixels' luma, in float64 so a whole image's sum stays exact enough."""
    total = 0.0
    for i in range(r.shape[0]):
        total += luma(r[i], g[i], b[i])
    return total


@kernel
def blend_plane_towards(plane, factor, offset):
    """clamp(factor * x + offset), offset = (1 - factor) * a target shared by every pixel."""
    for i in range(plane.shape[0]):
        plane[i] = clamp01(plane[i] * factor + offset)


@kernel
def adjust_brightness(r, g, b, factor):
    for plane in (r, g, b):
        blend_plane_towards(plane, factor, ZERO)


@kernel
def adjust_contrast(r, g, b, factor, mean_luma):
    """mean_luma: the mean luma of the whole image before this op, as torchvision takes it,
    which a single row cannot know; the caller computes it."""
    offset = (ONE - factor) * mean_luma
    for plane in (r, g, b):
        blend_plane_towards(plane, factor, offset)


@kernel
def adjust_saturation(r, g, b, factor):
    """Blend each pixel towards its own luma."""
    keep = ONE - factor
    for i in range(r.shape[0]):
        offset = luma(r[i], g[i], b[i]) * keep
        r[i] = clamp01(r[i] * factor + offset)
        g[i] = clamp01(g[i] * factor + offset)
        b[i] = clamp01(b[i] * factor + offset)


@kernel
def hue_wheel(k, value, chroma):
    """One channel of HSV -> RGB: value * (1 - saturation * ramp(k)), with value *
    saturation = chroma, where k in [1, 11) is the hue in sixths plus the channel's offset."""
    k -= SIX if k >= SIX else ZERO
    return value - chroma * clamp01(min(k, FOUR - k))


@kernel
def adjust_hue(r, g, b, shift):
    """Rotate hue by `shift` (a fraction of the colour wheel, in [-0.5, 0.5]) in HSV.

    Written without data-dependent branches or float remainders (each a library call), so
    the loop compiles to selects; the wrap-arounds below are single steps because every
    quantity stays within one turn of its range.
    """
    shift6 = SIX * shift
    for i in range(r.shape[0]):
        red, green, blue = r[i], g[i], b[i]
        value = max(red, green, blue)
        chroma = value - min(red, green, blue)
        inv_chroma = ONE / chroma if chroma > ZERO else ZERO
        # Hue in sixths of the wheel from the largest channel, red winning ties, in
        # [-1, 5); a gray pixel (no chroma) gets hue 0 and stays gray under any rotation.
        if red == value:
            hue6 = (green - blue) * inv_chroma
        elif green == value:
            hue6 = (blue - red) * inv_chroma + TWO
        else:
            hue6 = (red - green) * inv_chroma + FOUR
        hue6 += shift6  # in [-4, 8)
        hue6 += SIX if hue6 < ZERO else ZERO
        hue6 -= SIX if hue6 >= SIX else ZERO
        # HSV -> RGB: red, green and blue read the wheel at offsets of 5, 3 and 1 sixths.
        r[i] = hue_wheel(hue6 + FIVE, value, chroma)
        g[i] = hue_wheel(hue6 + THREE, value, chroma)
        b[i] = hue_wheel(hue6 + ONE, value, chroma)


@kernel
def to_grayscale(r, g, b):
    """Every channel becomes the pixel's luma."""
    for i in range(r.shape[0]):
        gray = luma(r[i], g[i], b[i])
        r[i] = gray
        g[i] = gray
        b[i] = gray


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
def reflect_pad(line, pad):
    """line [W + 2 pad] holds a plane's row at [pad, pad + W): fill both margins by reflection."""
    width = line.shape[0] - 2 * pad
    for j in range(1, pad + 1):
        line[pad - j] = line[pad + j]
        line[pad + width - 1 + j] = line[pad + width - 1 - j]


# The taps a sigma needs, compiled for the colour stage (see blur_taps).
blur_radius = kernel(blur_taps.blur_radius)


@inlined_kernel
def add_tap(out, src, weight):
    """One tap of a blur pass: out += weight * src over out's length, a contiguous
    multiply-add that numba vectorizes."""
    for j in range(out.shape[0]):
        out[j] += weight * src[j]


@kernel
def blur_row(line, weights, radius, out):
    """Horizontal pass of one plane: out [W] = the padded row line [W + k - 1] convolved
    with weights' taps within `radius` of the centre, one tap at a time."""
    n = out.shape[0]
    centre = weights.shape[0] // 2
    out[:] = 0
    for d in range(centre - radius, centre + radius + 1):
        # A slice per tap, not line[j + d]: numba's negative-index check on j + d would
        # turn the vectorized loads into gathers (three times slower).
        add_tap(out, line[d : d + n], weights[d])


@kernel
def blur_column(ring, channel, weights, radius, y, height, out):
    """Vertical pass of one plane for output row y: out [W] = the sum, over taps d within
    `radius` of the centre, of weights[d] times the horizontally blurred row
    reflect(y + d - k // 2) of that plane, which lives in ring[that row % k, channel, :W]
    (a ring of the last k rows, enough for every output row in turn)."""
    k = weights.shape[0]
    centre = k // 2
    out[:] = 0
    for d in range(centre - radius, centre + radius + 1):
        add_tap(out, ring[reflect_index(y + d - centre, height) % k, channel], weights[d])
