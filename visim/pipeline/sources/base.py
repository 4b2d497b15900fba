"""What every input format offers: the ImageSource interface, its errors and the splits.

Every reader (one module per format beside this one) yields decoded RGB uint8 images by
index; unreadable items raise UnreadableImage so that callers (convert, the loaders) can skip
and report them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

SPLITS = ("train", "test")
# A split option's default (open_split): the split a command prefers where the source has
# splits, else the whole source.
AUTO_SPLIT = "auto"


class UnreadableImage(Exception):
    """One item could not be decoded; `item` names it (a path, or file[index])."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


class SourceError(ValueError):
    """The source as a whole cannot be read (missing, empty, unknown format)."""


class MissingSplit(SourceError):
    """The source has no such split; `available` are the ones it has."""

    def __init__(self, message: str, available: tuple[str, ...]) -> None:
        super().__init__(message)
        self.available = available


class ImageSource(ABC):
    """A labelled image collection. Subclasses: image folder, IDX, CIFAR, npz, demo."""

    format: str  # "imagefolder" | "idx" | "cifar" | "npz" | "demo"
    location: str  # what the user passed, for messages and manifests
    split: str  # one of SPLITS
    classes: list[str]  # names in label order
    labels: np.ndarray  # int64 [N]
    # True where items are separate encoded files, any of which may be corrupt; array-backed
    # and generated sources can never fail, so callers may skip checking them one by one.
    items_may_fail: bool = False

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def load(self, index: int) -> np.ndarray:
        """Image `index` as uint8 [H, W, 3] RGB; raises UnreadableImage."""

    @abstractmethod
    def describe(self, index: int) -> str:
        """A name for item `index` that a user can find (a path, or file[index])."""


def check_split(split: str, location: str, available: tuple[str, ...] = SPLITS) -> None:
    """SourceError unless `split` is one this source has."""
    if split not in SPLITS:
        raise SourceError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if split not in available:
        raise MissingSplit(
            f"{location} has no {split!r} split (it has: {', '.join(available)})", available
        )
