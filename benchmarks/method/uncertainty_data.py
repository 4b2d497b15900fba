"""The uncertainty benchmark's data sets, each materialised once as .npz files visim reads.

    NAME-val.npz   x_train: the training subset less a held-out validation part; x_test: that
                   part (for choosing defaults)
    NAME-test.npz  x_train: the whole training subset; x_test: a subset of the set's test
                   split (for the final report only)

Both hold `classes`. Sizes are per set: `train` images in the training subset, of which
`evaluation` form the validation part, and `evaluation` test images (digits has fewer,
below). Every draw is stratified by class with a fixed seed; files are written atomically.
Each set's far-out-of-distribution partner (OOD_PARTNER) is another of the sets: the
partner's evaluation part of the same variant is the --ood data, so a validation screen
sees no test image of any set.

- fashion-mnist: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, the
  official 60,000 / 10,000 split), 28 px grey, kept at 28 px (visim resizes to --size).
- digits: scikit-learn's bundled load_digits (1,797 8x8 handwritten digits, values 0-16, the
  test part of UCI's optdigits), scaled to 0-255 and upscaled to 32 px by bilinear
  interpolation. It has no test split: `evaluation` images (at most a quarter, 450) are
  carved out as one, stratified, and as many again form the validation part; the training
  subset is the rest, at most `train` (1,397 with 400 evaluation images).
- textures: 32 px grey patches of 8 photos shipped inside scikit-image's wheel, the class
  being the photo; test patches never overlap training ones (uncertainty_textures.py).
- demo: visim's generated demo set, demo:N:0 (64 px coloured shapes, 10 classes), its train
  and test splits as drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from uncertainty_textures import TEXTURE_PHOTOS, Part, texture_parts

from visim.core.atomic_write import write_atomically
from visim.pipeline.sources.demo import DemoSource
from visim.pipeline.sources.idx import open_idx

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SETS = ("fashion-mnist", "digits", "textures", "demo")
SPLITS = ("val", "test")  # the variants
# Far-OOD partners: shapes for the grey sets, clothing for the shapes.
OOD_PARTNER = {
    "fashion-mnist": "demo",
    "digits": "demo",
    "textures": "demo",
    "demo": "fashion-mnist",
}
# Part of the cache folder's name: raise it whenever a builder changes what it draws, so that
# files an earlier version wrote are never read as this one's.
DATA_VERSION = 1
SEED = 20240  # every draw's; the set's name is mixed in so that sets draw independently
DIGITS_TEST_SHARE = 0.25


@dataclass(frozen=True)
class Sizes:
    train: int  # training subset, validation part included
    evaluation: int  # validation part, and test subset

    def folder(self, cache: Path) -> Path:
        return cache / f"v{DATA_VERSION}-train{self.train}-eval{self.evaluation}"


@dataclass(frozen=True)
class Parts:
    """A set's three disjoint parts and its class names."""

    train: Part  # the training subset less the validation part
    val: Part
    test: Part
    classes: list[str]


def rng_for(name: str, purpose: str) -> np.random.Generator:
    return np.random.default_rng([SEED, *name.encode(), *purpose.encode()])


def stratified(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `count` items with each class's share of `labels`, drawn at random: items
    are ranked by their (random) place within their class, as a fraction of its size."""
    order = rng.permutation(len(labels))
    place = np.empty(len(labels))
    for label in np.unique(labels):
        members = order[labels[order] == label]
        place[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.argsort(place, kind="stable")[:count]


def split_off(part: Part, count: int, rng: np.random.Generator) -> tuple[Part, Part]:
    """(the rest, a stratified `count` of `part`)."""
    taken = stratified(part[1], count, rng)
    rest = np.setdiff1d(np.arange(len(part[1])), taken)
    return (part[0][rest], part[1][rest]), (part[0][taken], part[1][taken])


def fashion_mnist(sizes: Sizes) -> Parts:
    train, test = (open_idx(FASHION_MNIST, split) for split in ("train", "test"))
    name = "fashion-mnist"
    subset = stratified(train.labels, sizes.train, rng_for(name, "train"))
    rest, val = split_off(
        (train.images[subset], train.labels[subset]), sizes.evaluation, rng_for(name, "val")
    )
    drawn = stratified(test.labels, sizes.evaluation, rng_for(name, "test"))
    return Parts(rest, val, (test.images[drawn], test.labels[drawn]), train.classes)


def digits(sizes: Sizes) -> Parts:
    from sklearn.datasets import load_digits  # the benchmark's session installs it

    bunch = load_digits()
    small = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    images = np.stack(
        [np.asarray(Image.fromarray(i).resize((32, 32), Image.Resampling.BILINEAR)) for i in small]
    )
    test_count = min(sizes.evaluation, round(DIGITS_TEST_SHARE * len(images)))
    rest, test = split_off(
        (images, bunch.target.astype(np.int64)), test_count, rng_for("digits", "test")
    )
    rest, val = split_off(rest, test_count, rng_for("digits", "val"))
    # The training subset holds at most `train` images, validation part included.
    kept = min(len(rest[1]), sizes.train - test_count)
    _, train = split_off(rest, kept, rng_for("digits", "train"))
    return Parts(train, val, test, [str(name) for name in bunch.target_names])


def demo(sizes: Sizes) -> Parts:
    """The demo's labels cycle through its classes, so any run of images is balanced."""
    count = max(sizes.train, 4 * sizes.evaluation)  # its test split is a quarter of train
    train, test = (DemoSource(count, 0, split) for split in ("train", "test"))
    images = np.stack([train.load(i) for i in range(sizes.train)])
    labels = train.labels[: sizes.train]
    kept = sizes.train - sizes.evaluation
    test_images = np.stack([test.load(i) for i in range(sizes.evaluation)])
    return Parts(
        (images[:kept], labels[:kept]),
        (images[kept:], labels[kept:]),
        (test_images, test.labels[: sizes.evaluation]),
        list(DemoSource.classes),
    )


def textures(sizes: Sizes) -> Parts:
    classes = len(TEXTURE_PHOTOS)
    per_class = {
        "train": (sizes.train - sizes.evaluation) // classes,
        "val": sizes.evaluation // classes,
        "test": sizes.evaluation // classes,
    }
    parts = texture_parts(per_class, SEED)
    return Parts(parts["train"], parts["val"], parts["test"], list(TEXTURE_PHOTOS))


BUILDERS: dict[str, Callable[[Sizes], Parts]] = {
    "fashion-mnist": fashion_mnist,
    "digits": digits,
    "textures": textures,
    "demo": demo,
}


def save_npz(path: Path, arrays: dict[str, Any]) -> None:
    def write(temporary: Path) -> None:
        with temporary.open("wb") as handle:  # a path would get ".npz" appended
            np.savez_compressed(handle, **arrays)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, write)


def variant_arrays(parts: Parts, split: str) -> dict[str, np.ndarray]:
    """The arrays of NAME-{split}.npz: training and evaluation part of that variant."""
    if split == "val":
        train, test = parts.train, parts.val
    else:
        train = (
            np.concatenate([parts.train[0], parts.val[0]]),
            np.concatenate([parts.train[1], parts.val[1]]),
        )
        test = parts.test
    return {
        "x_train": train[0],
        "y_train": train[1],
        "x_test": test[0],
        "y_test": test[1],
        "classes": np.array(parts.classes),
    }


def set_file(folder: Path, name: str, split: str) -> Path:
    return folder / f"{name}-{split}.npz"


def materialise(name: str, sizes: Sizes, cache: Path) -> None:
    """Write NAME-val.npz and NAME-test.npz into sizes.folder(cache) where missing."""
    folder = sizes.folder(cache)
    if all(set_file(folder, name, split).is_file() for split in SPLITS):
        return
    print(f"materialising {name} into {folder}", flush=True)
    parts = BUILDERS[name](sizes)
    for split in SPLITS:
        save_npz(set_file(folder, name, split), variant_arrays(parts, split))
