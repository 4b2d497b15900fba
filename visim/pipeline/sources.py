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


def open_source(src: str | Path, split: str = "train") -> ImageSource:
    """Open `src` with the reader its layout calls for.

    'demo' or 'demo:N[:SEED]' is the built-in generated set (a folder named demo: ./demo).
    A .npz file is read as arrays, a .beton as `visim convert` wrote it; a directory as IDX
    files (MNIST family), CIFAR python batches, or else an image folder (root/<class>/*.jpg).
    Sources without splits (an image folder without train/ and test/, most .npz files) hold
    only "train": the whole source; a .beton holds the split it was converted from.
    """
    # Readers import this module for the base class, so they are imported here, when used.
    from visim.pipeline import (
        source_beton,
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
        if path.suffix.lower() == ".beton":
            return source_beton.BetonSource(path, split)
        raise SourceError(
            f"unknown source format: {text} (expected a directory, a .npz or .beton file, "
            "or 'demo')"
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
        "CIFAR python batches, a .npz or .beton file, or 'demo')"
    )


def open_split(src: str | Path, split: str, preferred: str = "train") -> ImageSource:
    """open_source(src, split); AUTO_SPLIT opens the `preferred` split where the source has
    it and otherwise the whole source (its one split)."""
    if split != AUTO_SPLIT:
        return open_source(src, split)
    try:
        return open_source(src, preferred)
    except MissingSplit as missing:
        if len(missing.available) != 1:
            raise
        return open_source(src, missing.available[0])
