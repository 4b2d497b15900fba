"""An ImageFolder tree: root/<class>/**/*.{jpg,jpeg,png,webp,bmp}, classes = sorted folders.

When every subfolder of root is train/, test/ or val/, those are the splits (test falls
back to val/, as in ImageNette); otherwise the whole tree is the train split.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from visim.pipeline.sources.base import ImageSource, SourceError, UnreadableImage, check_split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SPLIT_FOLDERS = {"train": ("train",), "test": ("test", "val")}


def _subfolders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def has_subfolders(path: Path) -> bool:
    return bool(_subfolders(path))


def split_roots(root: Path) -> dict[str, Path]:
    """The folder holding each split's class folders."""
    names = {p.name for p in _subfolders(root)}
    if not names or not names <= {name for names in SPLIT_FOLDERS.values() for name in names}:
        return {"train": root}
    return {
        split: root / next(name for name in candidates if name in names)
        for split, candidates in SPLIT_FOLDERS.items()
        if any(name in names for name in candidates)
    }


def _image_files(class_folder: Path) -> list[Path]:
    """Image files below one class folder, in a stable order; hidden files left out."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(class_folder, followlinks=True):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found.extend(
            Path(folder, name)
            for name in sorted(files)
            if not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)
        )
    return found


def pil_to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL mode as uint8 [H, W, 3] RGB."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit gray: PIL's convert('RGB') would clip it to 255, so scale 0..65535 instead.
        wide = np.asarray(image, dtype=np.int64)
        gray = (np.clip(wide, 0, 65535) // 257).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        # Transparent pixels carry arbitrary colours; show them over white, as viewers do.
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    # np.array, not asarray: PIL's buffer is read-only, and torch.from_numpy warns on those.
    return np.array(image.convert("RGB"))


def decode_image(encoded: Path | BinaryIO, item: str) -> np.ndarray:
    """The pixels of an encoded image (a file, or its bytes) as uint8 [H, W, 3] RGB;
    UnreadableImage naming `item` for anything undecodable."""
    try:
        with Image.open(encoded) as image:
            image.load()  # open() reads only the header; truncation shows up here
            return pil_to_rgb(image)
    except Exception as error:  # decoders raise many exception types on bad files
        reason = str(error) or type(error).__name__
        raise UnreadableImage(item, reason) from None


class ImageFolderSource(ImageSource):
    format = "imagefolder"
    items_may_fail = True

    def __init__(self, root: Path, split: str = "train") -> None:
        self.location = str(root)
        self.split = split
        roots = split_roots(root)
        check_split(split, str(root), tuple(roots))
        # Classes from every split, so a label means the same class in train and test.
        self.classes = sorted({p.name for r in roots.values() for p in _subfolders(r)})
        paths, labels = [], []
        for label, name in enumerate(self.classes):
            class_folder = roots[split] / name
            if class_folder.is_dir():
                files = _image_files(class_folder)
                paths.extend(files)
                labels.extend([label] * len(files))
        if not paths:
            raise SourceError(
                f"source is empty: no {'/'.join(IMAGE_EXTENSIONS)} files in class folders "
                f"of {roots[split]}"
            )
        self.paths = paths
        self.labels = np.asarray(labels, dtype=np.int64)

    def load(self, index: int) -> np.ndarray:
        return decode_image(self.paths[index], str(self.paths[index]))

    def read_encoded(self, index: int) -> bytes:
        """The file's bytes as stored, so a JPEG can go to a GPU decoder without re-encoding."""
        try:
            return self.paths[index].read_bytes()
        except OSError as error:
            raise UnreadableImage(str(self.paths[index]), error.strerror or str(error)) from None

    def describe(self, index: int) -> str:
        return str(self.paths[index])
