"""The built-in demo set, named by the source string 'demo[:N[:SEED]]'; no download.

N is the number of train images (default 4000); the test split has N // 4. SEED (default
0) picks the data set, not the training run: the same string always gives the same pixels.
Images are 64x64, drawn on demand from (seed, split, index) by demo_shapes.
"""

from __future__ import annotations

import numpy as np

from visim.pipeline.sources.base import SPLITS, ImageSource, SourceError, check_split
from visim.pipeline.sources.demo_shapes import (
    DEMO_CLASSES,
    DemoFactors,
    draw_demo_image,
    draw_demo_image_with_factors,
)

DEMO_IMAGE_SIZE = 64
DEFAULT_TRAIN_IMAGES = 4000
DEFAULT_SEED = 0
TEST_DIVISOR = 4  # the test split is a quarter the size of the train split


def is_demo_spec(text: str) -> bool:
    return text == "demo" or text.startswith("demo:")


def parse_demo_spec(text: str) -> tuple[int, int]:
    """(train images, seed) from 'demo', 'demo:N' or 'demo:N:SEED'."""
    parts = text.split(":")[1:]
    if len(parts) > 2 or not all(p.isdigit() for p in parts):
        raise SourceError(f"bad demo source {text!r}; write demo, demo:N or demo:N:SEED")
    num_train = int(parts[0]) if parts else DEFAULT_TRAIN_IMAGES
    seed = int(parts[1]) if len(parts) > 1 else DEFAULT_SEED
    if num_train < len(DEMO_CLASSES) * TEST_DIVISOR:
        raise SourceError(
            f"bad demo source {text!r}: N must be at least {len(DEMO_CLASSES) * TEST_DIVISOR}, "
            "so that the test split has every class"
        )
    return num_train, seed


class DemoSource(ImageSource):
    """Balanced classes: item i has label i mod 10."""

    format = "demo"
    classes = DEMO_CLASSES

    def __init__(
        self, num_train: int = DEFAULT_TRAIN_IMAGES, seed: int = DEFAULT_SEED, split: str = "train"
    ) -> None:
        check_split(split, "demo")
        self.split = split
        self.seed = seed
        self.location = f"demo:{num_train}:{seed}"
        count = num_train if split == "train" else num_train // TEST_DIVISOR
        self.labels = np.arange(count, dtype=np.int64) % len(DEMO_CLASSES)

    def load(self, index: int) -> np.ndarray:
        return draw_demo_image(self._rng(index), int(self.labels[index]), DEMO_IMAGE_SIZE)

    def factors(self, index: int) -> DemoFactors:
        """What was drawn for image `index` besides its class (its pixels are drawn again)."""
        return draw_demo_image_with_factors(
            self._rng(index), int(self.labels[index]), DEMO_IMAGE_SIZE
        )[1]

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < len(self):
            raise IndexError(f"demo image {index} out of range [0, {len(self)})")
        # One generator per image: any image can be drawn alone, in any order, by any worker.
        return np.random.default_rng([self.seed, SPLITS.index(self.split), index])

    def describe(self, index: int) -> str:
        return f"{self.location}[{self.split}][{index}]"


def open_demo(text: str, split: str) -> DemoSource:
    num_train, seed = parse_demo_spec(text)
    return DemoSource(num_train, seed, split)
