import numpy as np
import pytest

from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.factory import open_source


def images(shape) -> np.ndarray:
    return np.arange(np.prod(shape), dtype=np.int64).reshape(shape).astype(np.uint8)


@pytest.mark.parametrize("shape", [(4, 5, 6), (4, 5, 6, 1), (4, 5, 6, 3)])
@pytest.mark.parametrize("keys", [("images", "labels"), ("x", "y")])
def test_single_split_npz(tmp_path, shape, keys):
    path = tmp_path / "set.npz"
    np.savez(path, **{keys[0]: images(shape), keys[1]: np.array([0, 2, 1, 2])})
    source = open_source(path)
    assert source.format == "npz"
    assert source.classes == ["0", "1", "2"]
    assert source.labels.tolist() == [0, 2, 1, 2]
    image = source.load(3)
    assert image.shape == (5, 6, 3) and image.dtype == np.uint8
    expected = images(shape)[3].reshape(5, 6, -1)
    assert (image == expected).all()  # gray broadcasts to all three channels
    with pytest.raises(SourceError, match="no 'test' split"):
        open_source(path, "test")


def test_class_names_and_keras_splits(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(
        path,
        x_train=images((3, 2, 2)),
        y_train=np.array([1, 0, 1]),
        x_test=images((2, 2, 2)),
        y_test=np.array([0, 0]),
        classes=np.array(["even", "odd"]),
    )
    train, test = open_source(path, "train"), open_source(path, "test")
    assert train.classes == test.classes == ["even", "odd"]
    assert (len(train), len(test)) == (3, 2)
    assert test.labels.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"images": np.zeros((2, 3, 3), np.float32), "labels": [0, 1]}, "must be uint8"),
        ({"images": np.zeros((2, 3, 3), np.uint8)}, "no 'labels'"),
        ({"images": np.zeros((2, 3, 3), np.uint8), "labels": [0]}, "2 images but 1 labels"),
        ({"pixels": np.zeros((2, 3, 3), np.uint8)}, "expected arrays 'images'"),
        ({"images": np.zeros((2, 3, 3, 2), np.uint8), "labels": [0, 1]}, "must have shape"),
        (
            {"images": np.zeros((2, 3, 3), np.uint8), "labels": [0, 1], "classes": ["a"]},
            r"labels must lie in \[0, 0\]",
        ),
    ],
)
def test_bad_arrays_are_named(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(SourceError, match=message) as caught:
        open_source(path)
    assert "bad.npz" in str(caught.value)


def test_a_file_that_is_not_npz(tmp_path):
    path = tmp_path / "fake.npz"
    path.write_text("hello")
    with pytest.raises(SourceError, match="fake.npz: cannot read as .npz"):
        open_source(path)
