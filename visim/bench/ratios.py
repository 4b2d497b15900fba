"""The numbers the benchmark tables are made of, derived from measured rates and times."""

from __future__ import annotations

import math


def data_stall(real_images_per_s: float, synthetic_images_per_s: float) -> float:
    """1 - real / synthetic: the share of the data-free training speed lost to the loader.

    The synthetic run trains the same model with the same settings on views that are already
    on the device, so it is the speed of the step alone.
    """
    if synthetic_images_per_s <= 0:
        raise ValueError(f"synthetic throughput must be positive, got {synthetic_images_per_s}")
    if real_images_per_s < 0:
        raise ValueError(f"real throughput must be non-negative, got {real_images_per_s}")
    return 1.0 - real_images_per_s / synthetic_images_per_s


def per_doubling(x1: float, y1: float, x2: float, y2: float) -> float:
    """The factor y grows by each time x doubles, fitting y = c * x^k through both points.

    2.0 means y grows in proportion to x; 1.0 means y does not depend on x.
    """
    if min(x1, y1, x2, y2) <= 0 or x1 == x2:
        raise ValueError(f"need positive values and x1 != x2, got {(x1, y1, x2, y2)}")
    exponent = math.log(y2 / y1) / math.log(x2 / x1)
    return 2.0**exponent


def geometric_mean(values: list[float]) -> float:
    if not values or min(values) <= 0:
        raise ValueError(f"need positive values, got {values}")
    return math.exp(sum(math.log(v) for v in values) / len(values))


def ratios_to(baseline: str, rates: dict[str, float | None]) -> dict[str, float | None]:
    """Each rate over the baseline's; None where either is unknown."""
    reference = rates.get(baseline)
    if not reference:
        return {name: None for name in rates}
    return {name: None if rate is None else rate / reference for name, rate in rates.items()}
