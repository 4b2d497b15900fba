"""Seeds that are pure functions of named integer keys, so random augmentation replays exactly.

A loader derives the randomness of one sample (or one batch) from (seed, epoch, index) alone,
never from worker ids or how many numbers were drawn before, so a resumed or re-sharded run
draws the same augmentations.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from visim.pipeline.indexed_device import indexed_device


def stream_seed(purpose: str, *keys: int) -> int:
    """A 63-bit seed determined by `purpose` and the non-negative integer `keys`.

    `purpose` keeps streams of different uses apart (the same (seed, epoch, index) seeds
    a different stream for "torch-sample" than for "synthetic-pool"). Its text is part of
    the seed: renaming a purpose (e.g. "ffcv-colour" to another spelling) changes every
    number its stream draws.
    """
    if any(isinstance(k, bool) or int(k) != k or k < 0 for k in keys):
        raise ValueError(f"random stream keys must be non-negative integers, got {keys}")
    entropy = [zlib.crc32(purpose.encode()), *(int(k) for k in keys)]
    # SeedSequence mixes every key into every bit; shift to fit torch's signed 64-bit range.
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> np.uint64(1))


def seeded_generator(device: torch.device | str, purpose: str, *keys: int) -> torch.Generator:
    """A torch.Generator on `device`, seeded from stream_seed(purpose, *keys)."""
    generator = torch.Generator(device=indexed_device(device))
    generator.manual_seed(stream_seed(purpose, *keys))
    return generator
