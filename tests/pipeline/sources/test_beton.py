"""A .beton read back like any other source, and split defaults that fit every source."""

import json
import pickle

import numpy as np
import pytest
from PIL import Image

from tests.pipeline.image_files import save
from visim.pipeline.convert.to_beton import WriteSettings, convert_source
from visim.pipeline.sources.base import AUTO_SPLIT, MissingSplit, SourceError
from visim.pipeline.sources.demo_shapes import DEMO_CLASSES
from visim.pipeline.sources.factory import open_source, open_split

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
pytestmark = pytest.mark.ffcv

CLASSES = ("cat", "dog")


def pixels(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth gradients, red high, green middling, blue low: JPEG keeps them close, and a
    swap of channels would not be."""
    y, x = np.mgrid[:height, :width]
    planes = (200 + 2 * x - seed, 120 + 3 * y + seed, 20 + x + y)
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Two classes of three images of different sizes."""
    root = tmp_path_factory.mktemp("folder")
    for label, name in enumerate(CLASSES):
        for i in range(3):
            save(root / name / f"{i}.png", Image.fromarray(pixels(9 + i, 12 - i, 10 * label + i)))
    return root


@pytest.fixture(scope="module")
def betons(folder, tmp_path_factory):
    """The folder written raw and as JPEG, and the demo set's test split."""
    out = tmp_path_factory.mktemp("betons")
    source = open_source(folder)
    for mode in ("raw", "jpg"):
        convert_source(source, out / f"{mode}.beton", WriteSettings(write_mode=mode, workers=1))
    convert_source(
        open_source("demo:40", "test"), out / "demo-test.beton", WriteSettings(workers=1)
    )
    return out


@pytest.mark.parametrize("mode", ["raw", "jpg"])
def test_a_beton_gives_back_the_images_labels_and_classes_it_was_written_from(folder, betons, mode):
    original, stored = open_source(folder), open_source(betons / f"{mode}.beton")
    assert (stored.format, stored.classes, len(stored)) == ("beton", list(CLASSES), 6)
    np.testing.assert_array_equal(stored.labels, original.labels)  # written in source order
    for index in range(len(stored)):
        image, expected = stored.load(index), original.load(index)
        assert image.shape == expected.shape and image.dtype == np.uint8
        if mode == "raw":
            np.testing.assert_array_equal(image, expected)
        else:  # JPEG at quality 90: close, not equal
            assert np.abs(image.astype(int) - expected).mean() < 6
    assert stored.describe(4) == f"{betons / f'{mode}.beton'}[4]"


def test_a_beton_holds_the_split_it_was_converted_from(betons):
    test = open_source(betons / "demo-test.beton", "test")
    assert (test.split, test.classes, len(test)) == ("test", list(DEMO_CLASSES), 10)
    with pytest.raises(MissingSplit, match="has no 'train' split \\(it has: test\\)"):
        open_source(betons / "demo-test.beton", "train")


def test_a_beton_survives_being_sent_to_a_worker_process(betons):
    source = open_source(betons / "raw.beton")
    source.load(0)  # maps the file in this process
    copy = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(copy.load(5), source.load(5))


def test_a_beton_without_its_manifest_is_named(betons, tmp_path):
    lone = tmp_path / "lone.beton"
    lone.write_bytes((betons / "raw.beton").read_bytes())
    with pytest.raises(SourceError, match="lone.json: manifest not found beside lone.beton"):
        open_source(lone)


def test_a_manifest_that_does_not_match_its_beton_is_named(betons, tmp_path):
    copy = tmp_path / "copy.beton"
    copy.write_bytes((betons / "raw.beton").read_bytes())
    manifest = json.loads((betons / "raw.json").read_text())
    (tmp_path / "copy.json").write_text(json.dumps({**manifest, "num_images": 7}))
    with pytest.raises(SourceError, match="does not match its manifest"):
        open_source(copy)


def test_a_file_that_is_not_a_beton_is_named(betons, tmp_path):
    fake = tmp_path / "fake.beton"
    fake.write_bytes(b"\x00" * 10)
    manifest = json.loads((betons / "raw.json").read_text())
    (tmp_path / "fake.json").write_text(json.dumps(manifest))
    with pytest.raises(SourceError, match="fake.beton: 10 bytes, but `visim convert` wrote"):
        open_source(fake)  # the size its manifest records says it at once
    del manifest["checksums"]  # as manifests written before they were recorded
    (tmp_path / "fake.json").write_text(json.dumps(manifest))
    with pytest.raises(SourceError, match="fake.beton: not a readable .beton"):
        open_source(fake)


def test_auto_prefers_the_asked_split_and_else_takes_the_whole_source(folder, betons, tmp_path):
    whole = open_split(folder, AUTO_SPLIT, "test")
    assert (whole.split, len(whole)) == ("train", 6)  # a folder without splits: all of it
    assert open_split("demo:40", AUTO_SPLIT, "test").split == "test"
    assert open_split("demo:40", AUTO_SPLIT, "train").split == "train"
    assert open_split(betons / "demo-test.beton", AUTO_SPLIT, "train").split == "test"
    save(tmp_path / "split" / "train" / "cat" / "a.png", Image.fromarray(pixels(4, 4, 0)))
    save(tmp_path / "split" / "val" / "cat" / "b.png", Image.fromarray(pixels(4, 4, 1)))
    held_out = open_split(tmp_path / "split", AUTO_SPLIT, "test")
    assert held_out.split == "test" and held_out.paths[0].name == "b.png"


def test_a_split_asked_for_by_name_must_exist(folder):
    with pytest.raises(MissingSplit, match="has no 'test' split \\(it has: train\\)"):
        open_split(folder, "test", "test")
