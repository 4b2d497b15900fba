"""Where a random-resized crop cuts, as torchvision's RandomResizedCrop decides it.

One implementation for every backend that samples boxes itself: the FFCV decode-once decoder
compiles it with numba (so it uses only `math` and plain indexing), the DALI backend calls it
from Python. The randomness comes in as uniform draws, so the caller owns the generator:
numba's per-thread one inside FFCV, a seeded numpy Generator in the DALI feeder.
"""

from __future__ import annotations

import math

CROP_ATTEMPTS = 10  # torchvision's count before falling back to a central crop
DRAWS_PER_ATTEMPT = 4  # area fraction, log aspect ratio, top, left


def crop_box(height, width, scale, log_ratio, draws):
    """(top, left, crop_height, crop_width) of one random-resized crop of a height x width image.

    scale: (min, max) area fraction; log_ratio: (min, max) of log(width / height);
    draws: float [CROP_ATTEMPTS, DRAWS_PER_ATTEMPT], uniform in [0, 1).
    Each attempt takes an area fraction uniform in `scale` and a log aspect ratio uniform in
    `log_ratio`; the first box that fits is placed uniformly. When none of the attempts fits,
    the largest central box whose aspect ratio is in range.
    """
    area = float(height) * float(width)
    for attempt in range(CROP_ATTEMPTS):
        target_area = area * (scale[0] + (scale[1] - scale[0]) * draws[attempt, 0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * draws[attempt, 1])
        crop_w = int(round(math.sqrt(target_area * aspect)))
        crop_h = int(round(math.sqrt(target_area / aspect)))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            # int(u * n) with u uniform in [0, 1) is uniform over 0 .. n - 1, like randint.
            top = int(draws[attempt, 2] * (height - crop_h + 1))
            left = int(draws[attempt, 3] * (width - crop_w + 1))
            return top, left, crop_h, crop_w
    min_ratio = math.exp(log_ratio[0])
    max_ratio = math.exp(log_ratio[1])
    image_ratio = float(width) / float(height)
    crop_h, crop_w = int(height), int(width)
    if image_ratio < min_ratio:
        crop_h = int(round(crop_w / min_ratio))
    elif image_ratio > max_ratio:
        crop_w = int(round(crop_h * max_ratio))
    return (int(height) - crop_h) // 2, (int(width) - crop_w) // 2, crop_h, crop_w
