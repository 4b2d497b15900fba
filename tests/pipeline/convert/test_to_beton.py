import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")

from ffcv.reader import Reader  # noqa: E402

from tests.pipeline.image_files import (  # noqa: E402
    rgb_image,
    save,
    write_readable_modes,
    write_unreadable,
)
from visim.pipeline.convert.manifest import read_manifest  # noqa: E402
from visim.pipeline.convert.to_beton import (  # noqa: E402
    StrictModeError,
    WriteSettings,
    convert_source,
)
from visim.pipeline.sources.base import ImageSource, SourceError  # noqa: E402
from visim.pipeline.sources.demo import DemoSource  # noqa: E402
from visim.pipeline.sources.factory import open_source

pytestmark = pytest.mark.ffcv
RAW = 1  # FFCV's mode code for raw pixels (0 is JPEG)


def stored_images(path: Path) -> list[np.ndarray]:
    """The raw-mode images of a .beton, read straight from the file."""
    reader = Reader(str(path))
    images = []
    for meta in reader.metadata["f0"]:
        assert meta["mode"] == RAW
        count = int(meta["height"]) * int(meta["width"]) * 3
        flat = np.fromfile(path, dtype=np.uint8, count=count, offset=int(meta["data_ptr"]))
        images.append(flat.reshape(int(meta["height"]), int(meta["width"]), 3))
    return images


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.fixture(scope="module")
def demo_beton(tmp_path_factory):
    source = DemoSource(40, seed=3)
    out = tmp_path_factory.mktemp("demo") / "demo.beton"
    result = convert_source(source, out, WriteSettings(write_mode="raw", workers=2))
    return source, result


def test_round_trip_keeps_count_labels_pixels_and_classes(demo_beton):
    source, result = demo_beton
    reader = Reader(str(result.output))
    assert reader.field_names == ["image", "label"]
    assert reader.num_samples == 40
    assert reader.metadata["f1"].tolist() == source.labels.tolist()
    for index, image in enumerate(stored_images(result.output)):
        assert (image == source.load(index)).all()
    manifest = read_manifest(result.output)
    assert manifest == result.manifest
    assert manifest.classes == source.classes
    assert manifest.num_images == 40
    assert manifest.per_class == {name: 4 for name in source.classes}
    assert manifest.source == "demo:40:3" and manifest.split == "train"
    assert manifest.skipped == []
    assert manifest.settings["write_mode"] == "raw"
    assert result.bytes_written == result.output.stat().st_size
    assert leftovers(result.output.parent) == []


def test_an_ffcv_loader_reads_it_back(demo_beton):
    from ffcv.fields.decoders import IntDecoder, SimpleRGBImageDecoder
    from ffcv.loader import Loader, OrderOption

    from visim.pipeline.backends.ffcv.loader import collection_paused

    source, result = demo_beton
    with collection_paused():  # FFCV's code generation, as the product builds it
        loader = Loader(
            str(result.output),
            batch_size=16,
            num_workers=1,
            order=OrderOption.SEQUENTIAL,
            drop_last=False,
            pipelines={"image": [SimpleRGBImageDecoder()], "label": [IntDecoder()]},
        )
    images, labels = [], []
    for image_batch, label_batch in loader:
        images.extend(np.array(image_batch))
        labels.extend(np.array(label_batch).reshape(-1).tolist())
    assert labels == source.labels.tolist()
    assert all((image == source.load(i)).all() for i, image in enumerate(images))


@pytest.fixture
def messy_folder(tmp_path):
    root = tmp_path / "messy"
    good = write_readable_modes(root / "good")
    save(root / "mixed" / "fine.png", rgb_image(300, 150))
    bad = write_unreadable(root / "mixed")
    return root, good, bad


def test_unreadable_files_are_skipped_and_reported(messy_folder, tmp_path):
    root, good, bad = messy_folder
    out = tmp_path / "out" / "messy.beton"
    result = convert_source(open_source(root), out, WriteSettings(write_mode="raw", workers=2))
    assert result.manifest.num_images == len(good) + 1
    assert result.manifest.per_class == {"good": len(good), "mixed": 1}
    skipped = {Path(item["path"]).name: item["reason"] for item in result.manifest.skipped}
    assert set(skipped) == {p.name for p in bad.values()}
    assert all(skipped.values())
    assert json.loads(out.with_suffix(".json").read_text())["skipped"] == result.manifest.skipped
    reader = Reader(str(out))
    assert reader.metadata["f1"].tolist() == [0] * len(good) + [1]
    # Stored at most max_resolution on the long side, shape kept: 300x150 -> 256x128.
    last = reader.metadata["f0"][-1]
    assert (int(last["width"]), int(last["height"])) == (256, 128)


def test_strict_refuses_unreadable_files_and_writes_nothing(messy_folder, tmp_path):
    root, _, bad = messy_folder
    out = tmp_path / "strict.beton"
    with pytest.raises(StrictModeError, match=f"{len(bad)} unreadable image"):
        convert_source(open_source(root), out, WriteSettings(workers=1), strict=True)
    assert list(tmp_path.glob("strict*")) == [] and leftovers(tmp_path) == []


def test_jpeg_mode_and_small_max_resolution(tmp_path):
    out = tmp_path / "small.beton"
    settings = WriteSettings(write_mode="jpg", max_resolution=32, jpeg_quality=70, workers=1)
    convert_source(DemoSource(40), out, settings)
    meta = Reader(str(out)).metadata["f0"]
    assert set(meta["mode"].tolist()) == {0}
    assert set(meta["width"].tolist()) == {32}
    assert read_manifest(out).settings["jpeg_quality"] == 70


def test_an_existing_output_needs_force(demo_beton, tmp_path):
    out = tmp_path / "twice.beton"
    out.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="twice.beton"):
        convert_source(DemoSource(40), out, WriteSettings(workers=1))
    assert out.read_bytes() == b"old"
    convert_source(DemoSource(40), out, WriteSettings(workers=1), force=True)
    assert Reader(str(out)).num_samples == 40


def test_a_source_with_no_readable_image(tmp_path):
    write_unreadable(tmp_path / "src" / "only")
    with pytest.raises(SourceError, match="no readable images"):
        convert_source(open_source(tmp_path / "src"), tmp_path / "x.beton", WriteSettings())
    assert not (tmp_path / "x.beton").exists()


class FailsInTheWriter(ImageSource):
    """Claims its items cannot fail, then fails on one: only the writer processes see it."""

    format, location, split, classes = "test", "failing", "train", ["a"]
    labels = np.zeros(30, dtype=np.int64)

    def load(self, index):
        if index == 25:
            raise RuntimeError("disk went away")
        return np.zeros((8, 8, 3), np.uint8)

    def describe(self, index):
        return f"failing[{index}]"


def test_an_item_failing_only_in_a_writer_process_is_skipped_and_listed(tmp_path):
    out = tmp_path / "fails.beton"
    result = convert_source(FailsInTheWriter(), out, WriteSettings(workers=1))
    assert result.manifest.num_images == 29
    assert result.manifest.skipped == [
        {"path": "failing[25]", "reason": "cannot be read: RuntimeError: disk went away"}
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fails.beton", "fails.json"]


def test_bad_settings_and_output_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="write mode must be one of"):
        WriteSettings(write_mode="png")
    with pytest.raises(ValueError, match="JPEG quality"):
        WriteSettings(jpeg_quality=0)
    with pytest.raises(ValueError, match=r"must end in \.beton"):
        convert_source(DemoSource(40), tmp_path / "out.ffcv")


def test_read_manifest_names_a_missing_or_broken_file(tmp_path):
    beton = tmp_path / "data.beton"
    with pytest.raises(SourceError, match=r"data.json: manifest not found"):
        read_manifest(beton)
    (tmp_path / "data.json").write_text("{not json")
    with pytest.raises(SourceError, match=r"data.json: cannot read manifest"):
        read_manifest(beton)
    (tmp_path / "data.json").write_text('{"classes": ["a"]}')
    with pytest.raises(SourceError, match=r"data.json: not a visim manifest \(missing num_images"):
        read_manifest(beton)
