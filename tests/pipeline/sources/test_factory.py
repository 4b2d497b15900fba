import numpy as np
import pytest

from tests.pipeline.image_files import rgb_image, save
from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.factory import open_source


def test_each_layout_is_recognised(tmp_path):
    save(tmp_path / "folder" / "cat" / "a.png", rgb_image())
    np.savez(tmp_path / "arrays.npz", images=np.zeros((1, 2, 2), np.uint8), labels=[0])
    assert open_source(tmp_path / "folder").format == "imagefolder"
    assert open_source(str(tmp_path / "arrays.npz")).format == "npz"
    assert open_source("demo:40").format == "demo"


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(SourceError, match=r"source not found: .*nowhere"):
        open_source(tmp_path / "nowhere")


def test_an_empty_directory_is_named(tmp_path):
    with pytest.raises(SourceError, match=f"source is empty: {tmp_path}"):
        open_source(tmp_path)


@pytest.mark.parametrize("name", ["images.txt", "images.tar"])
def test_an_unknown_file_format_is_named(tmp_path, name):
    (tmp_path / name).write_text("?")
    with pytest.raises(SourceError, match=f"unknown source format: .*{name}"):
        open_source(tmp_path / name)


def test_a_flat_folder_of_images_is_an_unknown_format(tmp_path):
    save(tmp_path / "a.png", rgb_image())
    with pytest.raises(SourceError, match="unknown source format.*class subfolders"):
        open_source(tmp_path)


def test_an_unknown_split_is_named():
    with pytest.raises(SourceError, match="unknown split 'val'"):
        open_source("demo", "val")
