"""MNIST-family IDX files (MNIST, Fashion-MNIST, KMNIST, ...), gzipped or not.

A directory holds train-images-idx3-ubyte[.gz] + train-labels-idx1-ubyte[.gz] for the train
split and t10k-* for the test split (the layout of the original downloads and of Debian's
dataset-fashion-mnist package).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from visim.pipeline.sources.arrays import ArraySource, numbered_classes
from visim.pipeline.sources.base import SourceError, check_split

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FILE_PREFIX = {"train": "train", "test": "t10k"}
UBYTE = 0x08  # the IDX type code for unsigned bytes, the only one image sets use


def idx_file(directory: Path, split: str, kind: str) -> Path | None:
    """The images/labels file of a split, gzipped or not; None when absent."""
    ndim = 3 if kind == "images" else 1
    name = f"{FILE_PREFIX[split]}-{kind}-idx{ndim}-ubyte"
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def available_splits(directory: Path) -> tuple[str, ...]:
    return tuple(s for s in FILE_PREFIX if idx_file(directory, s, "images") is not None)


def is_idx_directory(directory: Path) -> bool:
    return bool(available_splits(directory))


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array of an IDX file with `ndim` dimensions; SourceError on anything else."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as error:
        raise SourceError(f"{path}: cannot read IDX file ({error})") from None
    # Header: two zero bytes, the type code, the number of dimensions, then big-endian sizes.
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != UBYTE or data[3] != ndim:
        raise SourceError(f"{path}: not an IDX file of unsigned bytes with {ndim} dimension(s)")
    header = 4 + 4 * ndim
    shape = tuple(int(s) for s in np.frombuffer(data[4:header], dtype=">u4"))
    if len(data) - header != int(np.prod(shape)):
        raise SourceError(
            f"{path}: header promises shape {shape} but the file holds "
            f"{len(data) - header} bytes of data"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def class_names(directory: Path) -> list[str]:
    """Fashion-MNIST's names when the folder says so, else '0'..'K-1' from all label files.

    IDX files carry no names, so the folder or its parent (Debian's .../fashion-mnist,
    torchvision's FashionMNIST/raw) is the only clue to which set this is.
    """
    nearest = directory.resolve().parts[-2:]
    if any("fashion" in part.lower() for part in nearest):
        return list(FASHION_MNIST_CLASSES)
    label_files = (idx_file(directory, s, "labels") for s in available_splits(directory))
    return numbered_classes(*(read_idx(path, 1) for path in label_files if path is not None))


def open_idx(directory: Path, split: str) -> ArraySource:
    check_split(split, str(directory), available_splits(directory))
    images_path = idx_file(directory, split, "images")
    labels_path = idx_file(directory, split, "labels")
    if images_path is None:  # check_split found the split by its images file: a race
        raise SourceError(f"{directory}: the {split} images file is gone")
    if labels_path is None:
        raise SourceError(f"{directory}: {images_path.name} has no matching labels file")
    return ArraySource(
        read_idx(images_path, 3),
        read_idx(labels_path, 1),
        class_names(directory),
        format="idx",
        location=str(directory),
        split=split,
        item_prefix=str(images_path),
    )
