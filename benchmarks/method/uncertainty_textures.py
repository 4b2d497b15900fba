"""A texture / material patch set cut from the sample photos inside scikit-image's wheel.

The photos are files in skimage/data that the wheel ships (skimage.data.brick() and so on:
none of them is fetched by pooch at run time): brick, grass, gravel (textures), moon (the
lunar surface), hubble_deep_field (a star field), immunohistochemistry (stained tissue),
retina (a fundus photograph) and coins. They are read in grey: colour would tell the colour
photos from the grey ones by itself. A photo whose shorter side exceeds 512 px is shrunk to
512 (box filter), so that a patch covers a like share of each. Each photo is cut into 48 px
cells, near-constant cells (retina's black corners) are dropped, and the cells are dealt at
random to test, validation and training (25 / 20 / 55 %); a 32 px patch is a random crop
inside one cell of its part, and its class is the photo it comes from. So test patches never
overlap training or validation ones, while patches of one part may overlap each other. The
classes are unequally hard: moon and retina are mostly smooth grey, and a few patches at
retina's rim are mostly black.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

Part = tuple[np.ndarray, np.ndarray]  # uint8 images, int64 labels
TEXTURE_PHOTOS = (
    "brick",
    "grass",
    "gravel",
    "moon",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "coins",
)
TEXTURE_SIDE = 512  # longest shorter side a photo keeps
CELL = 48
PATCH = 32
MIN_CELL_STD = 2.0  # grey levels: below it a cell is blank (retina's black corners)
TEXTURE_SHARES = {"test": 0.25, "val": 0.20}  # of each photo's cells; the rest train


def grey_photo(name: str) -> np.ndarray:
    """skimage.data's photo `name` in grey, its shorter side at most TEXTURE_SIDE."""
    import skimage.data  # the benchmark's session installs scikit-image

    photo = Image.fromarray(getattr(skimage.data, name)()).convert("L")
    shorter = min(photo.size)
    if shorter > TEXTURE_SIDE:
        scale = TEXTURE_SIDE / shorter
        target = (round(photo.size[0] * scale), round(photo.size[1] * scale))
        photo = photo.resize(target, Image.Resampling.BOX)
    return np.asarray(photo)


def cells_of(photo: np.ndarray) -> np.ndarray:
    """The photo's whole CELL x CELL cells that are not blank, [cells, CELL, CELL]."""
    rows, columns = photo.shape[0] // CELL, photo.shape[1] // CELL
    grid = photo[: rows * CELL, : columns * CELL].reshape(rows, CELL, columns, CELL)
    cells = grid.swapaxes(1, 2).reshape(-1, CELL, CELL)
    return cells[cells.reshape(len(cells), -1).std(axis=1) >= MIN_CELL_STD]


def patches(cells: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` random PATCH crops, each inside one cell drawn at random."""
    chosen = rng.integers(len(cells), size=count)
    corners = rng.integers(CELL - PATCH + 1, size=(count, 2))
    return np.stack(
        [cells[c, y : y + PATCH, x : x + PATCH] for c, (y, x) in zip(chosen, corners, strict=True)]
    )


def deal_cells(photo_name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The photo's cells dealt at random to test, validation and training."""
    cells = rng.permutation(cells_of(grey_photo(photo_name)))
    test_end = round(TEXTURE_SHARES["test"] * len(cells))
    val_end = test_end + round(TEXTURE_SHARES["val"] * len(cells))
    return {"test": cells[:test_end], "val": cells[test_end:val_end], "train": cells[val_end:]}


def texture_parts(per_class: dict[str, int], seed: int) -> dict[str, Part]:
    """{"train" | "val" | "test": (patches [N, PATCH, PATCH], labels [N])} with per_class[part]
    patches of each photo; label k is TEXTURE_PHOTOS[k]."""
    drawn: dict[str, list[np.ndarray]] = {name: [] for name in per_class}
    for photo_name in TEXTURE_PHOTOS:
        # Each photo its own generator: adding a photo changes no other photo's patches.
        rng = np.random.default_rng([seed, *photo_name.encode()])
        dealt = deal_cells(photo_name, rng)
        for name, count in per_class.items():
            drawn[name].append(patches(dealt[name], count, rng))
    labels = np.arange(len(TEXTURE_PHOTOS), dtype=np.int64)
    return {
        name: (np.concatenate(drawn[name]), np.repeat(labels, count))
        for name, count in per_class.items()
    }
