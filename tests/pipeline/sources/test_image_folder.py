import numpy as np
import pytest

from tests.pipeline.image_files import rgb_image, save, write_readable_modes, write_unreadable
from visim.pipeline.sources.base import SourceError, UnreadableImage
from visim.pipeline.sources.factory import open_source
from visim.pipeline.sources.image_folder import ImageFolderSource


def test_classes_are_sorted_folders_and_files_are_found_recursively(tmp_path):
    save(tmp_path / "dog" / "b.png", rgb_image())
    save(tmp_path / "cat" / "nested" / "a.JPEG", rgb_image())
    save(tmp_path / "cat" / "z.bmp", rgb_image())
    save(tmp_path / "cat" / "w.webp", rgb_image())
    save(tmp_path / "cat" / ".hidden.jpg", rgb_image())
    (tmp_path / "cat" / "notes.txt").write_text("ignored")
    source = open_source(tmp_path)
    assert isinstance(source, ImageFolderSource)
    assert source.classes == ["cat", "dog"]
    assert [p.name for p in source.paths] == ["w.webp", "z.bmp", "a.JPEG", "b.png"]
    assert source.labels.tolist() == [0, 0, 0, 1]
    assert source.labels.dtype == np.int64
    assert source.items_may_fail


def test_every_mode_is_loaded_as_rgb_uint8(tmp_path):
    files = write_readable_modes(tmp_path / "things")
    source = open_source(tmp_path)
    images = {p.stem: source.load(i) for i, p in enumerate(source.paths)}
    for name, image in images.items():
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3, name
    assert set(images) == set(files)
    assert (images["gray"] == 77).all()
    assert images["rgba"][0, 0].tolist() == [255, 255, 255]  # transparent shows white
    assert images["rgba"][1, 1].tolist() == [10, 20, 30]
    # 16-bit gray is scaled to 8 bits, not clipped at 255.
    assert images["deep"][:, :, 0].tolist() == [[0, 100], [255, 7]]
    assert images["cmyk"].shape == (3, 7, 3)
    red = images["cmyk"][1, 3]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_unreadable_files_raise_with_their_path(tmp_path):
    bad = write_unreadable(tmp_path / "broken")
    save(tmp_path / "broken" / "good.png", rgb_image())
    source = open_source(tmp_path)
    assert len(source) == 4
    for index, path in enumerate(source.paths):
        if path.name == "good.png":
            assert source.load(index).shape == (10, 12, 3)
            continue
        with pytest.raises(UnreadableImage) as caught:
            source.load(index)
        assert caught.value.item == str(path)
        assert caught.value.reason
    assert set(bad.values()) <= set(source.paths)


def test_read_encoded_returns_the_stored_bytes(tmp_path):
    path = save(tmp_path / "a" / "x.jpg", rgb_image(), quality=80)
    source = open_source(tmp_path)
    assert source.read_encoded(0) == path.read_bytes()
    path.unlink()
    with pytest.raises(UnreadableImage, match="x.jpg"):
        source.read_encoded(0)


def test_train_and_test_folders_are_splits_with_shared_labels(tmp_path):
    save(tmp_path / "train" / "ant" / "1.png", rgb_image())
    save(tmp_path / "train" / "bee" / "2.png", rgb_image())
    save(tmp_path / "val" / "bee" / "3.png", rgb_image())
    save(tmp_path / "val" / "cow" / "4.png", rgb_image())
    train, test = open_source(tmp_path, "train"), open_source(tmp_path, "test")
    assert train.classes == test.classes == ["ant", "bee", "cow"]
    assert train.labels.tolist() == [0, 1]
    assert test.labels.tolist() == [1, 2]
    assert [p.name for p in test.paths] == ["3.png", "4.png"]


def test_a_tree_without_split_folders_has_no_test_split(tmp_path):
    save(tmp_path / "ant" / "1.png", rgb_image())
    with pytest.raises(SourceError, match=r"has no 'test' split"):
        open_source(tmp_path, "test")


def test_class_folders_without_images_are_an_empty_source(tmp_path):
    (tmp_path / "ant").mkdir()
    (tmp_path / "ant" / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="empty"):
        open_source(tmp_path)
