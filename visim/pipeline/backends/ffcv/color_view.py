"""The recipe's colour stage on uint8 views in place, one image row at a time, in numba.

Per view, in the torch backend's order: colour jitter (its four ops in the view's own order)
-> grayscale -> Gaussian blur -> solarize, then rounded back to uint8 once. Each row is loaded
to three float32 planes (color_kernels says why planes), run through every op while it sits
in L1 cache, and stored; two ops need more than their row:

- contrast blends towards the mean luma of the whole image as it is just before contrast, so
  when a view's jitter includes contrast, a first pass runs the ops that precede it and sums
  the luma (recomputing them later is cheaper than keeping a float copy of the image);
- blur needs the rows around it: horizontally blurred rows go into a ring of the last k rows
  (k the kernel size), and output row y is written as soon as row y + k // 2 is in the ring.
  Row y of the view has been read by then, so the view is overwritten in place. Both passes
  use only the taps the view's sigma needs (blur_taps), often a third of the kernel.

Scratch memory comes from the caller (FFCV's allocations), so nothing is allocated per
sample. `augment_views` runs the samples of a batch in parallel (numba prange over the
threads FFCV sets, one per loader worker).
"""

from __future__ import annotations

import numba
import numpy as np

from visim.pipeline.augment import blur_taps
from visim.pipeline.augment.batched_color_ops import JITTER_OPS, JitterOp
from visim.pipeline.augment.color_kernels import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    blur_column,
    blur_radius,
    blur_row,
    gaussian_weights,
    kernel,
    load_pixels,
    luma_sum,
    reflect_pad,
    store_pixels,
    to_grayscale,
)
from visim.pipeline.augment.color_view_params import (
    COLOR_SLOTS,
    ColorSlot,
    draw_color_view_params,
)
from visim.pipeline.augment.keyed_random import view_key

# Scratch rows per sample, each three planes: the padded working row, the blur's output
# row, then the ring.
LINE, BLURRED = 0, 1
RING = 2

# The float32 copy of blur_taps.BLUR_TAIL_TOLERANCE that the kernels compare against.
BLUR_TAIL_TOLERANCE_F32 = np.float32(blur_taps.BLUR_TAIL_TOLERANCE)


def scratch_rows_shape(size: int, kernel_size: int) -> tuple[int, int, int]:
    """float32 scratch of one sample: [RING + k, 3, size + 2 (k // 2)]."""
    return (RING + kernel_size, 3, size + 2 * (kernel_size // 2))


def params_shape(views: int) -> tuple[int, int]:
    """float64 parameters of one sample's views: [views, COLOR_SLOTS]."""
    return (views, COLOR_SLOTS)


@kernel
def apply_jitter(r, g, b, params, stop, mean_luma):
    """The view's jitter ops at positions [0, stop), skipping identity factors (exact no-ops)."""
    for position in range(stop):
        op = int(params[ColorSlot.ORDER + position])
        factor = np.float32(params[ColorSlot.FACTOR + op])
        if op == JitterOp.HUE:
            if factor != 0:
                adjust_hue(r, g, b, factor)
        elif factor != 1:
            if op == JitterOp.BRIGHTNESS:
                adjust_brightness(r, g, b, factor)
            elif op == JitterOp.CONTRAST:
                adjust_contrast(r, g, b, factor, mean_luma)
            elif op == JitterOp.SATURATION:
                adjust_saturation(r, g, b, factor)


@kernel
def contrast_mean_luma(view, params, r, g, b):
    """Mean luma of the view after the jitter ops that precede contrast (0 if contrast is
    an identity or jitter is off: then nothing reads it)."""
    if params[ColorSlot.JITTER] == 0 or params[ColorSlot.FACTOR + JitterOp.CONTRAST] == 1:
        return np.float32(0)
    position = 0
    while int(params[ColorSlot.ORDER + position]) != JitterOp.CONTRAST:
        position += 1
    total = 0.0
    for row in range(view.shape[0]):
        load_pixels(view[row], r, g, b)
        apply_jitter(r, g, b, params, position, np.float32(0))
        total += luma_sum(r, g, b)
    return np.float32(total / (view.shape[0] * view.shape[1]))


@kernel
def blur_columns(ring, weights, radius, y, size, blurred):
    """The vertical pass of output row y of a size x size view, every plane, into
    blurred[:, :size]."""
    for channel in range(3):
        blur_column(ring, channel, weights, radius, y, size, blurred[channel, :size])


@kernel
def augment_view(view, params, solarize_threshold, rows, weights):
    """Apply the decisions params [COLOR_SLOTS] to view uint8 [S, S, 3] in place.

    rows: float32 scratch of scratch_rows_shape(S, k); weights: float32 scratch [k].
    """
    jitter = params[ColorSlot.JITTER] != 0
    grayscale = params[ColorSlot.GRAYSCALE] != 0
    blur = params[ColorSlot.BLUR] != 0
    solarize = params[ColorSlot.SOLARIZE] != 0
    if not (jitter or grayscale or blur or solarize):
        return
    size = view.shape[0]
    kernel_size = weights.shape[0]
    pad = kernel_size // 2
    threshold = np.float32(solarize_threshold)
    line = rows[LINE]
    # The row itself, plane by plane; the margins around it are the blur's padding.
    r, g, b = line[0, pad : pad + size], line[1, pad : pad + size], line[2, pad : pad + size]
    blurred = rows[BLURRED]
    out_r, out_g, out_b = blurred[0, :size], blurred[1, :size], blurred[2, :size]
    ring = rows[RING:]
    mean_luma = contrast_mean_luma(view, params, r, g, b)
    radius = 0
    if blur:
        gaussian_weights(np.float32(params[ColorSlot.BLUR_SIGMA]), weights)
        radius = blur_radius(weights, BLUR_TAIL_TOLERANCE_F32)
    for row in range(size):
        load_pixels(view[row], r, g, b)
        if jitter:
            apply_jitter(r, g, b, params, JITTER_OPS, mean_luma)
        if grayscale:
            to_grayscale(r, g, b)
        if not blur:
            store_pixels(r, g, b, view[row], solarize, threshold)
            continue
        for channel in range(3):
            reflect_pad(line[channel], pad)
            blur_row(line[channel], weights, radius, ring[row % kernel_size, channel, :size])
        if row >= pad:
            blur_columns(ring, weights, radius, row - pad, size, blurred)
            store_pixels(out_r, out_g, out_b, view[row - pad], solarize, threshold)
    if blur:
        for row in range(size - pad, size):
            blur_columns(ring, weights, radius, row, size, blurred)
            store_pixels(out_r, out_g, out_b, view[row], solarize, threshold)


@numba.njit(parallel=True, fastmath=True, nogil=True, error_model="numpy")
def augment_views(views, sample_ids, first_view, stream_key, settings, params, rows, weights):
    """The colour stage for a batch, in place, samples in parallel.

    views: uint8 [B, V, S, S, 3], view v of sample b drawing from the stream
    view_key(stream_key, sample_ids[b], first_view + v). Scratch per sample b: params[b]
    (params_shape(V)), rows[b] (scratch_rows_shape), weights[b] (float32 [k]).
    """
    for slot in numba.prange(views.shape[0]):
        for view in range(views.shape[1]):
            key = view_key(stream_key, sample_ids[slot], first_view + view)
            draw_color_view_params(key, settings, params[slot, view])
            augment_view(
                views[slot, view],
                params[slot, view],
                settings.solarize_threshold,
                rows[slot],
                weights[slot],
            )
