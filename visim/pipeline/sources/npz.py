"""A .npz file of uint8 images and integer labels.

One split: `images` + `labels` (or `x` + `y`). Two splits, as Keras saves MNIST:
`x_train`, `y_train`, `x_test`, `y_test`. Optional `classes`: names in label order.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from visim.pipeline.sources.arrays import ArraySource, numbered_classes
from visim.pipeline.sources.base import SourceError, check_split

# (images key, labels key) per split, in order of preference.
SINGLE_SPLIT_KEYS = (("images", "labels"), ("x", "y"))
SPLIT_KEYS = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}


def _split_keys(path: Path, keys: set[str]) -> dict[str, tuple[str, str]]:
    """Which arrays hold each split's images and labels in this file."""
    for images_key, labels_key in SINGLE_SPLIT_KEYS:
        if images_key in keys:
            if labels_key not in keys:
                raise SourceError(f"{path}: has {images_key!r} but no {labels_key!r} array")
            return {"train": (images_key, labels_key)}
    found = {s: pair for s, pair in SPLIT_KEYS.items() if set(pair) <= keys}
    if not found:
        raise SourceError(
            f"{path}: expected arrays 'images' + 'labels', 'x' + 'y', or x_train/y_train "
            f"(found: {', '.join(sorted(keys)) or 'none'})"
        )
    return found


def _class_names(path: Path, archive: np.lib.npyio.NpzFile, labels: list[np.ndarray]) -> list[str]:
    if "classes" not in archive.files:
        return numbered_classes(*labels)
    names = archive["classes"]
    if names.ndim != 1 or names.dtype.kind not in "US":
        raise SourceError(f"{path}: 'classes' must be a 1-D array of strings")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def open_npz(path: Path, split: str) -> ArraySource:
    try:
        # allow_pickle=False: a .npz may come from anywhere and must not run code.
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise SourceError(f"{path}: not a .npz archive (a single .npy array?)")
        with archive:
            keys = _split_keys(path, set(archive.files))
            check_split(split, str(path), tuple(keys))
            images_key, labels_key = keys[split]
            images, labels = archive[images_key], archive[labels_key]
            classes = _class_names(path, archive, [archive[y] for _, y in keys.values()])
    except SourceError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise SourceError(f"{path}: cannot read as .npz ({error})") from None
    return ArraySource(
        images,
        labels,
        classes,
        format="npz",
        location=str(path),
        split=split,
        item_prefix=f"{path}:{images_key}",
    )
