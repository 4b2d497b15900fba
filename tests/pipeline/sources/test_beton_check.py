"""A .beton checked against what `visim convert` wrote: its structure and, through the
per-chunk checksums in its manifest, its content, down to the images a damage touches."""

import json
import math
import os
import shutil

import numpy as np
import pytest

from visim.pipeline.convert import beton_checksums
from visim.pipeline.convert.to_beton import WriteSettings, convert_source
from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.beton import BetonSource
from visim.pipeline.sources.beton_check import check_beton
from visim.pipeline.sources.factory import open_source

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
pytestmark = pytest.mark.ffcv

CHUNK = 2**20  # small chunks, so that a damage is placed to the megabyte


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """400 raw demo images (4.7 MiB of pixels after FFCV's first 8 MiB page), 1 MiB chunks."""
    out = tmp_path_factory.mktemp("written") / "shapes.beton"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(beton_checksums, "CHUNK_BYTES", CHUNK)
        convert_source(open_source("demo:400"), out, WriteSettings(write_mode="raw", workers=1))
    return out


def copy_of(written, tmp_path, name="copy"):
    """The .beton and its manifest under another name, to damage."""
    beton = tmp_path / f"{name}.beton"
    shutil.copyfile(written, beton)
    shutil.copyfile(written.with_suffix(".json"), beton.with_suffix(".json"))
    return beton


def overwrite(path, offset, data):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(data)


def test_convert_records_a_checksum_per_chunk_of_the_file_as_written(written):
    recorded = json.loads(written.with_suffix(".json").read_text())["checksums"]
    size = written.stat().st_size
    assert recorded["algorithm"] == "sha256" and recorded["chunk_bytes"] == CHUNK
    assert recorded["size"] == size
    assert len(recorded["chunks"]) == math.ceil(size / CHUNK)
    assert recorded["chunks"] == beton_checksums.chunk_digests(written, CHUNK)


def test_an_intact_file_verifies(written):
    found = check_beton(written, verify=True)
    assert (found.verified, found.has_checksums, found.images) == (True, True, 400)
    assert found.size == written.stat().st_size


def test_images_overwritten_in_place_are_found_and_named(written, tmp_path):
    beton = copy_of(written, tmp_path)
    source = BetonSource(beton, "train")
    # Random bytes over the images of the first megabyte after the 8 MiB page, as a bad disk
    # or a stray write would leave them: the tables still parse, the structure is sound.
    start = 9 * CHUNK + 1000
    overwrite(beton, start, np.random.default_rng(0).bytes(200_000))
    assert check_beton(beton, verify=False).verified is False  # the structure cannot tell

    with pytest.raises(SourceError) as damaged:
        check_beton(beton, verify=True)
    message = str(damaged.value)
    hit = source.images_in([(9 * CHUNK, 10 * CHUNK)])
    assert message.startswith(f"{beton}: damaged: 1 of its 1 MiB pieces differ")
    assert "(bytes 9-10 MiB)" in message
    assert f"holding {len(hit)} images (indices {', '.join(map(str, hit[:5]))} and " in message
    assert "convert it again" in message
    # Exactly the images with bytes in that megabyte: raw 64 px images of 12,288 bytes
    # each, stored back to back from the 8 MiB page on.
    first, last = (9 * CHUNK - 8 * CHUNK) // 12288, (10 * CHUNK - 8 * CHUNK - 1) // 12288
    np.testing.assert_array_equal(hit, np.arange(first, last + 1))


def test_a_file_cut_short_is_named_before_anything_is_read(written, tmp_path):
    beton = copy_of(written, tmp_path)
    size = beton.stat().st_size
    os.truncate(beton, size // 2)
    with pytest.raises(SourceError, match=f"{size // 2:,} bytes, but `visim convert` wrote "
                       f"{size:,}.*cut short"):  # fmt: skip
        check_beton(beton, verify=False)


def test_random_bytes_of_the_recorded_size_are_not_a_beton(written, tmp_path):
    beton = copy_of(written, tmp_path)
    beton.write_bytes(np.random.default_rng(1).bytes(written.stat().st_size))
    with pytest.raises(SourceError, match=r"not a readable \.beton"):
        check_beton(beton, verify=True)


def test_a_manifest_that_disagrees_with_its_file_is_named(written, tmp_path):
    beton = copy_of(written, tmp_path)
    manifest = json.loads(beton.with_suffix(".json").read_text())
    manifest["num_images"] = 500
    beton.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(SourceError, match="does not match its manifest copy.json"):
        check_beton(beton, verify=True)


def test_a_file_from_before_checksums_is_checked_for_structure_only(written, tmp_path):
    beton = copy_of(written, tmp_path)
    manifest = json.loads(beton.with_suffix(".json").read_text())
    del manifest["checksums"]
    beton.with_suffix(".json").write_text(json.dumps(manifest))
    found = check_beton(beton, verify=True)
    assert (found.verified, found.has_checksums, found.images) == (False, False, 400)
    # Cut short, it is still caught, by what the cut took: FFCV's allocation table is last.
    os.truncate(beton, beton.stat().st_size - 1000)
    with pytest.raises(SourceError, match="allocation table misses some images"):
        check_beton(beton, verify=False)
