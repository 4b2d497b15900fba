"""Image files for reader and convert tests: every mode a folder may hold, and broken ones."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def save(path: Path, image: Image.Image, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)
    return path


def rgb_image(width: int = 12, height: int = 10, seed: int = 0) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def write_readable_modes(folder: Path) -> dict[str, Path]:
    """One decodable file per awkward mode: gray, RGBA, palette, CMYK JPEG, 16-bit PNG."""
    gray = Image.fromarray(np.full((6, 5), 77, dtype=np.uint8))
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (200, 0, 0, 0))  # fully transparent
    deep = Image.fromarray(np.array([[0, 257 * 100], [65535, 257 * 7]], dtype=np.uint16))
    return {
        "rgb": save(folder / "rgb.jpg", rgb_image()),
        "gray": save(folder / "gray.png", gray),
        "rgba": save(folder / "rgba.png", rgba),
        "palette": save(folder / "palette.png", rgb_image(seed=1).convert("P")),
        "cmyk": save(folder / "cmyk.jpg", Image.new("CMYK", (7, 3), (0, 255, 255, 0))),
        "deep": save(folder / "deep.png", deep),
    }


def write_unreadable(folder: Path) -> dict[str, Path]:
    """A truncated JPEG, an empty file and a text file, all named like images."""
    folder.mkdir(parents=True, exist_ok=True)
    encoded = io.BytesIO()
    rgb_image(64, 64).save(encoded, format="JPEG")
    paths = {
        "truncated": folder / "truncated.jpg",
        "empty": folder / "empty.jpg",
        "text": folder / "text.jpg",
    }
    paths["truncated"].write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])
    paths["empty"].write_bytes(b"")
    paths["text"].write_text("not an image\n")
    return paths
