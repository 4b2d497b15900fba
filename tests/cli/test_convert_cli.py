import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from visim.cli.app import app

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
pytestmark = pytest.mark.ffcv
runner = CliRunner()


def folder_with_one_bad_file(root: Path) -> Path:
    (root / "cat").mkdir(parents=True)
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(root / "cat" / "good.png")
    (root / "cat" / "empty.jpg").write_bytes(b"")
    return root


def test_convert_writes_beton_manifest_and_summary(tmp_path):
    out = tmp_path / "digits.beton"
    result = runner.invoke(app, ["convert", "demo:40", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Wrote 40 images in 10 classes" in result.stdout
    assert "skipped 0" in result.stdout
    manifest = json.loads((tmp_path / "digits.json").read_text())
    assert manifest["num_images"] == 40 and len(manifest["classes"]) == 10
    assert out.stat().st_size > 0


def test_skipped_files_are_listed_and_strict_fails(tmp_path):
    source = folder_with_one_bad_file(tmp_path / "src")
    strict = runner.invoke(app, ["convert", str(source), str(tmp_path / "s.beton"), "--strict"])
    assert strict.exit_code == 1
    assert "empty.jpg" in strict.stderr and "nothing written" in strict.stderr
    assert not (tmp_path / "s.beton").exists() and not (tmp_path / "s.json").exists()

    lenient = runner.invoke(app, ["convert", str(source), str(tmp_path / "l.beton")])
    assert lenient.exit_code == 0, lenient.output
    assert "Wrote 1 images" in lenient.stdout and "skipped 1" in lenient.stdout
    assert "empty.jpg" in lenient.stdout


def test_an_existing_output_is_refused_without_force(tmp_path):
    out = tmp_path / "taken.beton"
    out.write_bytes(b"keep me")
    result = runner.invoke(app, ["convert", "demo:40", str(out)])
    assert result.exit_code == 2
    assert "taken.beton already exists; pass --force" in result.stderr
    assert out.read_bytes() == b"keep me"
    forced = runner.invoke(app, ["convert", "demo:40", str(out), "--force", "--workers", "1"])
    assert forced.exit_code == 0, forced.output
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no/such/folder", "source not found: no/such/folder"),
        ("demo:x", "bad demo source 'demo:x'"),
    ],
)
def test_a_bad_source_is_one_line_with_exit_code_2(tmp_path, source, message):
    result = runner.invoke(app, ["convert", source, str(tmp_path / "o.beton")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {message}" + (
        "; write demo, demo:N or demo:N:SEED" if source.startswith("demo") else ""
    )


def test_an_unknown_format_and_a_missing_split(tmp_path):
    (tmp_path / "notes.txt").write_text("?")
    unknown = runner.invoke(
        app, ["convert", str(tmp_path / "notes.txt"), str(tmp_path / "o.beton")]
    )
    assert unknown.exit_code == 2 and "unknown source format" in unknown.stderr
    source = folder_with_one_bad_file(tmp_path / "src")
    no_test = runner.invoke(
        app, ["convert", str(source), str(tmp_path / "o.beton"), "--split", "test"]
    )
    assert no_test.exit_code == 2 and "no 'test' split" in no_test.stderr


def test_missing_ffcv_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ffcv.writer", None)  # makes `import ffcv.writer` fail
    result = runner.invoke(app, ["convert", "demo:40", str(tmp_path / "o.beton")])
    assert result.exit_code == 2
    assert "pip install 'visim[ffcv]'" in result.stderr
    assert not (tmp_path / "o.beton").exists()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_convert_leaves_nothing(tmp_path, stop):
    out = tmp_path / "big.beton"
    command = [sys.executable, "-m", "visim", "convert", "demo:40000", str(out), "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Wait until writing has begun: the temporary file appears beside OUT.
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".big.beton.tmp-*")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "convert never started writing"
            time.sleep(0.05)
        time.sleep(0.3)
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted; nothing written" in stderr
    assert "Traceback" not in stderr
    assert sorted(os.listdir(tmp_path)) == []
