"""`visim bench pipeline`: a tiny real run, its record, and clear errors."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from visim.bench.pipeline import runner as bench_runner
from visim.cli.app import app

runner = CliRunner()
HAS_FFCV = importlib.util.find_spec("ffcv") is not None
BACKENDS = ["torch", "synthetic", *(["ffcv"] if HAS_FFCV else [])]
QUICK = ["--size", "32", "--batch-size", "4", "--seconds", "0.5", "--rounds", "1"]
QUICK += ["--warmup-batches", "1", "--workers", "1", "--device", "cpu"]


def image_folder(root: Path) -> Path:
    """A dozen 48x40 noise JPEGs in three classes."""
    rng = np.random.default_rng(0)
    for index in range(12):
        folder = root / f"class_{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index:02d}.jpg")
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict, str]:
    """One real run over a dozen small JPEGs: (its folder, its JSON, its Markdown)."""
    root = tmp_path_factory.mktemp("bench")
    folder = image_folder(root / "images")
    args = ["bench", "pipeline", str(folder), "--backends", ",".join(BACKENDS), *QUICK]
    args += ["--json", str(root / "out.json"), "--markdown", str(root / "out.md")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return folder, json.loads((root / "out.json").read_text()), (root / "out.md").read_text()


def test_every_backend_has_a_rate_and_a_ratio_to_torch(tiny_run):
    _, document, _ = tiny_run
    rows = {row["backend"]: row for row in document["rows"]}
    assert list(rows) == BACKENDS
    for name, row in rows.items():
        assert row["status"] == "ok", row["note"]
        assert row["images_per_s"] > 0 and row["ratio_to_torch"] > 0, name
        assert row["images"] % 4 == 0 and row["images"] > 0
    assert rows["torch"]["ratio_to_torch"] == 1.0


def test_the_record_holds_settings_data_and_environment(tiny_run):
    folder, document, markdown = tiny_run
    assert document["benchmark"] == "pipeline"
    assert document["settings"]["recipe_fields"]["size"] == 32
    assert document["settings"]["data"]["images"] == 12
    assert {"git_commit", "packages", "cpu_count", "cuda_devices"} <= set(document["environment"])
    assert document["command"].startswith("visim bench pipeline --backends ")
    assert document["command"].endswith(str(folder))
    for heading in ("| backend |", "## How it was measured", "## Machine", "## Repeat"):
        assert heading in markdown


@pytest.mark.skipif(not HAS_FFCV, reason="the ffcv extra is not installed")
def test_the_beton_is_made_beside_the_folder(tiny_run):
    folder, document, _ = tiny_run
    assert document["settings"]["beton"] == str(folder.with_name("images.beton"))
    assert document["settings"]["beton_reused"] is False
    assert folder.with_name("images.beton").is_file()


def test_an_unavailable_backend_is_a_row_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(
        bench_runner,
        "missing_requirement",
        lambda c: "not installed; run: pip install 'visim[dali]'" if c.name == "dali" else None,
    )
    json_path = tmp_path / "out.json"
    folder = image_folder(tmp_path / "images")
    args = ["bench", "pipeline", str(folder), "--backends", "synthetic,dali", *QUICK]
    result = runner.invoke(app, [*args, "--json", str(json_path)])
    assert result.exit_code == 0, result.output
    rows = {row["backend"]: row for row in json.loads(json_path.read_text())["rows"]}
    assert rows["dali"]["status"] == "unavailable"
    assert "pip install 'visim[dali]'" in rows["dali"]["reason"]
    assert rows["synthetic"]["images_per_s"] > 0
    assert rows["synthetic"]["ratio_to_torch"] is None  # no torch baseline this run


def test_an_unknown_backend_is_a_one_line_error(tmp_path):
    folder = image_folder(tmp_path / "images")
    result = runner.invoke(app, ["bench", "pipeline", str(folder), "--backends", "torch,nope"])
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0
    assert "unknown backend(s) nope" in result.stderr and "choose from" in result.stderr


def test_src_that_is_not_an_image_folder_is_refused(tmp_path):
    a_file = tmp_path / "images.zip"
    a_file.write_bytes(b"PK")
    result = runner.invoke(app, ["bench", "pipeline", str(a_file)])
    assert result.exit_code == 2
    assert "is not a folder of class folders" in result.stderr
    assert "image folder" in result.stderr
