"""How many taps of the recipe's Gaussian blur a given sigma needs.

The recipe's kernel is sized for its largest sigma (23 taps at 224 px); for a smaller sigma
the outer weights are far below anything a uint8 level can show (at sigma 1 the taps beyond
4 weigh 1e-4 in all), yet a full-width blur pays for every one of them, and on Intel CPUs
the tiniest (denormal floats, for some sigmas) each take a slow path. The CPU executors
(the ffcv backend's numba stage, the dali graph) therefore blur with only the taps within
blur_radius of the centre; what they leave out moves a pixel by at most BLUR_TAIL_TOLERANCE
of its range per pass. The torch reference keeps the full kernel.

Plain Python on purpose: numba compiles blur_radius for the colour stage (color_kernels),
and the DALI feed calls it as it is.
"""

from __future__ import annotations

# The weight a blur may leave out, both tails together: after both passes at most
# 2e-4 x 255 = 0.05 of a uint8 level, well under the final rounding.
BLUR_TAIL_TOLERANCE = 1e-4


def blur_radius(weights, tolerance):
    """The smallest radius r such that weights [k] (k odd, normalised, symmetric) beyond r
    on both sides sum to at most `tolerance`."""
    centre = weights.shape[0] // 2
    radius = centre
    dropped = weights[0] - weights[0]  # a zero of the weights' own type
    while radius > 0:
        outer = weights[centre - radius] + weights[centre + radius]
        if dropped + outer > tolerance:
            break
        dropped += outer
        radius -= 1
    return radius
