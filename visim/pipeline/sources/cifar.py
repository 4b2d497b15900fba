"""CIFAR-10 and CIFAR-100 'python version' batches.

CIFAR-10: data_batch_1..5 (train), test_batch, batches.meta (label_names).
CIFAR-100: train, test, meta (fine_label_names); the 100 fine labels are used.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from visim.pipeline.sources.arrays import ArraySource
from visim.pipeline.sources.base import SourceError, check_split

# The batches were pickled by Python 2 with numpy arrays inside; nothing else may be loaded,
# so a malicious file cannot run code.
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_batch(path: Path) -> dict[str, object]:
    """One pickled batch as a dict with str keys (Python 2 pickles give bytes keys)."""
    try:
        with open(path, "rb") as f:
            content = _ArraysOnlyUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError) as error:
        raise SourceError(f"{path}: not a CIFAR python batch ({error})") from None
    if not isinstance(content, dict):
        raise SourceError(f"{path}: not a CIFAR python batch (no dict inside)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in content.items()}


def _layout(directory: Path) -> tuple[str, dict[str, list[Path]], str, str] | None:
    """(meta file, files per split, names key, labels key) for CIFAR-10 or -100, else None."""
    if (directory / "batches.meta").is_file():
        files = {
            "train": sorted(directory.glob("data_batch_*")),
            "test": [p for p in [directory / "test_batch"] if p.is_file()],
        }
        return "batches.meta", files, "label_names", "labels"
    if (directory / "meta").is_file() and (directory / "train").is_file():
        files = {s: [p for p in [directory / s] if p.is_file()] for s in ("train", "test")}
        return "meta", files, "fine_label_names", "fine_labels"
    return None


def is_cifar_directory(directory: Path) -> bool:
    return _layout(directory) is not None


def _field(batch: dict[str, object], key: str, path: Path) -> object:
    try:
        return batch[key]
    except KeyError:
        raise SourceError(f"{path}: no {key!r} entry in this CIFAR batch") from None


def open_cifar(directory: Path, split: str) -> ArraySource:
    layout = _layout(directory)
    if layout is None:
        raise SourceError(f"{directory}: no CIFAR batches.meta or meta file")
    meta_name, files, names_key, labels_key = layout
    check_split(split, str(directory), tuple(s for s, paths in files.items() if paths))
    meta_path = directory / meta_name
    names = _field(load_batch(meta_path), names_key, meta_path)
    if not isinstance(names, list):
        raise SourceError(f"{meta_path}: {names_key!r} is not a list of class names")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    images, labels = [], []
    for path in files[split]:
        batch = load_batch(path)
        data = np.asarray(_field(batch, "data", path))
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise SourceError(f"{path}: data must have shape (N, 3072), got {data.shape}")
        # Rows are channel-planar R, G, B of 32x32: [N, 3072] -> [N, 32, 32, 3].
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(_field(batch, labels_key, path)))
    return ArraySource(
        np.ascontiguousarray(np.concatenate(images)),
        np.concatenate(labels),
        classes,
        format="cifar",
        location=str(directory),
        split=split,
        item_prefix=str(directory / split),
    )
