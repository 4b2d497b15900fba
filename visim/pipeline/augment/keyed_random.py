"""Random numbers that are pure functions of a key, for numba code running in parallel.

numba's np.random keeps one generator per thread, seeded from OS entropy, so what a sample
draws from it depends on which thread happens to run it and on what that thread drew
before. The colour stage instead derives each number from (stream key, sample index, view,
draw number) through the splitmix64 mixing function (Steele, Lea & Flood, "Fast splittable
pseudorandom number generators", 2014), so a batch replays exactly on any number of threads,
resumed or not.
"""

from __future__ import annotations

import numpy as np

from visim.pipeline.augment.color_kernels import kernel

# Every constant is uint64: numba would turn uint64-with-int64 arithmetic into float64.
GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX_MULTIPLIER_1 = np.uint64(0xBF58476D1CE4E5B9)
MIX_MULTIPLIER_2 = np.uint64(0x94D049BB133111EB)
SHIFT_30, SHIFT_27, SHIFT_31 = np.uint64(30), np.uint64(27), np.uint64(31)
# The top 53 bits make a double in [0, 1) with every value equally likely.
MANTISSA_SHIFT = np.uint64(11)
UNIT = 2.0**-53


@kernel
def mix64(x):
    """splitmix64's finaliser: a bijection of uint64 that spreads every input bit."""
    x = (x ^ (x >> SHIFT_30)) * MIX_MULTIPLIER_1
    x = (x ^ (x >> SHIFT_27)) * MIX_MULTIPLIER_2
    return x ^ (x >> SHIFT_31)


@kernel
def view_key(stream_key, sample, view):
    """The key of one view of one sample within a stream (e.g. one epoch of one loader)."""
    sample_key = mix64(np.uint64(stream_key) + np.uint64(sample) * GOLDEN_GAMMA)
    return mix64(sample_key + np.uint64(view) * GOLDEN_GAMMA)


@kernel
def keyed_uniform(key, draw):
    """The draw-th number of the stream `key`: a float64 uniform in [0, 1)."""
    bits = mix64(np.uint64(key) + np.uint64(draw + 1) * GOLDEN_GAMMA) >> MANTISSA_SHIFT
    return np.float64(bits) * UNIT


@kernel
def keyed_between(key, draw, low, high):
    """The draw-th number of the stream `key`, uniform in [low, high)."""
    return low + (high - low) * keyed_uniform(key, draw)
