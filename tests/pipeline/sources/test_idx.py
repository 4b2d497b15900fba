import gzip
from pathlib import Path

import numpy as np
import pytest

from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.factory import open_source
from visim.pipeline.sources.idx import FASHION_MNIST_CLASSES

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    data = header + array.astype(np.uint8).tobytes()
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)


def write_mnist_like(folder: Path, gz: bool, train_labels=(3, 1, 4), test_labels=(5,)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ending = ".gz" if gz else ""
    for prefix, labels in (("train", train_labels), ("t10k", test_labels)):
        images = np.arange(len(labels) * 4 * 3, dtype=np.uint8).reshape(len(labels), 4, 3)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ending}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ending}", np.array(labels))


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_idx_splits_labels_and_gray_to_rgb(tmp_path, gz):
    write_mnist_like(tmp_path, gz)
    train, test = open_source(tmp_path, "train"), open_source(tmp_path, "test")
    assert train.format == "idx"
    assert (len(train), len(test)) == (3, 1)
    assert train.labels.tolist() == [3, 1, 4]
    assert test.labels.tolist() == [5]
    # Names cover the labels of both splits, so they agree between them.
    assert train.classes == test.classes == [str(k) for k in range(6)]
    image = train.load(1)
    assert image.dtype == np.uint8 and image.shape == (4, 3, 3)
    expected = np.arange(12, 24, dtype=np.uint8).reshape(4, 3)
    for channel in range(3):
        assert (image[:, :, channel] == expected).all()
    assert train.describe(1).endswith(f"train-images-idx3-ubyte{'.gz' if gz else ''}[1]")


def test_a_fashion_folder_gets_fashion_mnist_names(tmp_path):
    write_mnist_like(tmp_path / "FashionMNIST" / "raw", gz=True)
    assert open_source(tmp_path / "FashionMNIST" / "raw").classes == FASHION_MNIST_CLASSES


def test_missing_test_files_mean_no_test_split(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).unlink()
    assert len(open_source(tmp_path, "train")) == 3
    with pytest.raises(SourceError, match=r"no 'test' split"):
        open_source(tmp_path, "test")


def test_a_file_that_is_not_idx_is_named(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(b"\x89PNG not idx at all")
    with pytest.raises(SourceError, match="train-images-idx3-ubyte: not an IDX file"):
        open_source(tmp_path)


def test_a_short_idx_file_is_refused(tmp_path):
    write_mnist_like(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(SourceError, match="header promises shape"):
        open_source(tmp_path)


@pytest.mark.skipif(
    not FASHION_MNIST.is_dir(), reason="Debian package dataset-fashion-mnist not installed"
)
def test_the_installed_fashion_mnist():
    train, test = open_source(FASHION_MNIST, "train"), open_source(FASHION_MNIST, "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.classes == FASHION_MNIST_CLASSES
    assert train.labels[:4].tolist() == [9, 0, 0, 3]  # the file's first labels
    assert np.bincount(test.labels).tolist() == [1000] * 10
    image = train.load(0)
    assert image.shape == (28, 28, 3) and image.dtype == np.uint8
    assert image.max() > 0 and (image[:, :, 0] == image[:, :, 2]).all()
