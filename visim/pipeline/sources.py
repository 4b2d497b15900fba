"""The input formats a user can point visim at, behind one interface.

Every reader yields decoded RGB uint8 images by index; unreadable items raise
UnreadableImage so that callers (convert, the loaders) can skip and report them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np

SPLITS = ("train", "test")
# What a user may pass wherever visim reads images (for --help texts).
SOURCES_HELP = "an image folder, IDX, CIFAR or .npz source, or demo[:N[:SEED]]"


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
        raise SourceError(f"{location} has no {split!r} split (it has: {', '.join(available)})")


def open_source(src: str | Path, split: str = "train") -> ImageSource:
    """Open `src` with the reader its layout calls for.

    'demo' or 'demo:N[:SEED]' is the built-in generated set (a folder named demo: ./demo).
    A .npz file is read as arrays; a directory as IDX files (MNIST family), CIFAR python
    batches, or else an image folder (root/<class>/*.jpg).
    """
    # Readers import this module for the base class, so they are imported here, when used.
    from visim.pipeline import (
        source_cifar,
        source_demo,
        source_idx,
        source_image_folder,
        source_npz,
    )

    text = str(src)
    if isinstance(src, str) and source_demo.is_demo_spec(text):
        return source_demo.open_demo(text, split)
    path = Path(src).expanduser()
    if not path.exists():
        raise SourceError(f"source not found: {text}")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return source_npz.open_npz(path, split)
        raise SourceError(
            f"unknown source format: {text} (expected a directory, a .npz file or 'demo')"
        )
    if source_idx.is_idx_directory(path):
        return source_idx.open_idx(path, split)
    if source_cifar.is_cifar_directory(path):
        return source_cifar.open_cifar(path, split)
    if source_image_folder.has_subfolders(path):
        return source_image_folder.ImageFolderSource(path, split)
    if not any(path.iterdir()):
        raise SourceError(f"source is empty: {text}")
    raise SourceError(
        f"unknown source format: {text} (expected class subfolders of images, IDX files, "
        "CIFAR python batches, a .npz file or 'demo')"
    )
