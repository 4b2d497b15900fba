"""open_source: the reader a source's layout calls for, chosen in one place.

The readers import only the base module, never this one, and this one imports them when it
first opens a source, so that importing it (the command line does, for --help) loads none of
them.
"""

from __future__ import annotations

from pathlib import Path

from visim.pipeline.sources.base import AUTO_SPLIT, ImageSource, MissingSplit, SourceError

# What a user may pass wherever visim reads images (for --help texts).
SOURCES_HELP = "an image folder, IDX, CIFAR or .npz source, or demo[:N[:SEED]]"


def open_source(src: str | Path, split: str = "train") -> ImageSource:
    """Open `src` with the reader its layout calls for.

    'demo' or 'demo:N[:SEED]' is the built-in generated set (a folder named demo: ./demo).
    A .npz file is read as arrays, a .beton as `visim convert` wrote it; a directory as IDX
    files (MNIST family), CIFAR python batches, or else an image folder (root/<class>/*.jpg).
    Sources without splits (an image folder without train/ and test/, most .npz files) hold
    only "train": the whole source; a .beton holds the split it was converted from.
    """
    # Imported here, when used (see the module docstring).
    from visim.pipeline.sources import beton, cifar, demo, idx, image_folder, npz

    text = str(src)
    if isinstance(src, str) and demo.is_demo_spec(text):
        return demo.open_demo(text, split)
    path = Path(src).expanduser()
    if not path.exists():
        raise SourceError(f"source not found: {text}")
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return npz.open_npz(path, split)
        if path.suffix.lower() == ".beton":
            return beton.BetonSource(path, split)
        raise SourceError(
            f"unknown source format: {text} (expected a directory, a .npz or .beton file, "
            "or 'demo')"
        )
    if idx.is_idx_directory(path):
        return idx.open_idx(path, split)
    if cifar.is_cifar_directory(path):
        return cifar.open_cifar(path, split)
    if image_folder.has_subfolders(path):
        return image_folder.ImageFolderSource(path, split)
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
