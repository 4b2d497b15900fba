import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.factory import open_source


def cifar_rows(count: int, first_value: int) -> np.ndarray:
    """[count, 3072] rows in CIFAR's layout: R plane, G plane, B plane of 32x32."""
    rows = np.zeros((count, 3, 32, 32), dtype=np.uint8)
    for n in range(count):
        rows[n, 0], rows[n, 1], rows[n, 2] = first_value + n, 100, 200
        rows[n, 0, 0, 1] = 7  # one marked pixel: row 0, column 1, red
    return rows.reshape(count, 3072)


def dump(path: Path, content: dict) -> None:
    path.write_bytes(pickle.dumps(content))


def write_cifar10(folder: Path) -> None:
    """Keys as bytes, like the Python 2 pickles of the real download."""
    folder.mkdir(parents=True, exist_ok=True)
    dump(folder / "batches.meta", {b"label_names": [b"airplane", b"automobile", b"bird"]})
    dump(folder / "data_batch_1", {b"data": cifar_rows(2, 10), b"labels": [0, 2]})
    dump(folder / "data_batch_2", {b"data": cifar_rows(1, 20), b"labels": [1]})
    dump(folder / "test_batch", {b"data": cifar_rows(2, 30), b"labels": [2, 2]})


def test_cifar10_batches_in_order_with_names(tmp_path):
    write_cifar10(tmp_path)
    train, test = open_source(tmp_path, "train"), open_source(tmp_path, "test")
    assert train.format == "cifar"
    assert train.classes == ["airplane", "automobile", "bird"]
    assert train.labels.tolist() == [0, 2, 1]
    assert test.labels.tolist() == [2, 2]
    image = train.load(2)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image[5, 5].tolist() == [20, 100, 200]
    assert image[0, 1].tolist() == [7, 100, 200]


def test_cifar100_uses_fine_labels(tmp_path):
    fine_names = [f"fine{k}" for k in range(5)]
    dump(tmp_path / "meta", {"fine_label_names": fine_names, "coarse_label_names": ["c"]})
    dump(tmp_path / "train", {"data": cifar_rows(3, 0), "fine_labels": [4, 0, 3]})
    dump(tmp_path / "test", {"data": cifar_rows(1, 0), "fine_labels": [1]})
    train = open_source(tmp_path, "train")
    assert train.classes == fine_names
    assert train.labels.tolist() == [4, 0, 3]
    assert open_source(tmp_path, "test").labels.tolist() == [1]


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    write_cifar10(tmp_path)

    class RunsCode:
        def __reduce__(self):
            return (os.system, ("echo should not run",))

    dump(tmp_path / "data_batch_1", {b"data": RunsCode(), b"labels": [0]})
    with pytest.raises(SourceError, match=r"data_batch_1: .*refusing to load"):
        open_source(tmp_path)


def test_a_batch_without_labels_is_named(tmp_path):
    write_cifar10(tmp_path)
    dump(tmp_path / "test_batch", {b"data": cifar_rows(1, 0)})
    with pytest.raises(SourceError, match=r"test_batch: no 'labels' entry"):
        open_source(tmp_path, "test")
