"""The input formats a user can point visim at, behind one interface.

Every reader yields decoded RGB uint8 images by index; unreadable items raise
UnreadableImage so that callers (convert, the loaders) can skip and report them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class UnreadableImage(Exception):
    """One item could not be decoded; `item` names it (a path, or file[index])."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


class SourceError(ValueError):
    """The source as a whole cannot be read (missing, empty, unknown format)."""


class ImageSource(ABC):
    """A labelled image collection. Subclasses: image folder, IDX, CIFAR, npz, demo."""

    format: str  # "imagefolder" | "idx" | "cifar" | "npz" | "demo"
    location: str  # what the user passed, for messages and manifests
    classes: list[str]  # names in label order
    labels: np.ndarray  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def load(self, index: int) -> np.ndarray:
        """Image `index` as uint8 [H, W, 3] RGB; raises UnreadableImage."""

    @abstractmethod
    def describe(self, index: int) -> str:
        """A name for item `index` that a user can find (a path, or file[index])."""
