"""`visim check`, and the same check before pretrain and eval read a .beton: a damaged file
is one line naming it, exit code 2, and no training."""

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.cli.test_interrupts import tiny_run
from visim.cli.app import app

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
pytestmark = pytest.mark.ffcv
runner = CliRunner()


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("written") / "shapes.beton"
    result = runner.invoke(app, ["convert", "demo:300", str(out), "--write-mode", "raw",
                                 "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def damaged(written, tmp_path):
    """A copy whose images at 9 MiB are overwritten with noise (the tables intact)."""
    beton = tmp_path / "damaged.beton"
    shutil.copyfile(written, beton)
    shutil.copyfile(written.with_suffix(".json"), beton.with_suffix(".json"))
    with open(beton, "r+b") as handle:
        handle.seek(9 * 2**20)
        handle.write(np.random.default_rng(0).bytes(100_000))
    return beton


def test_check_passes_an_intact_file(written):
    result = runner.invoke(app, ["check", str(written)])
    assert result.exit_code == 0, result.output
    assert f"{written}: ok: 300 images" in result.stdout
    assert "every checksum matches" in result.stdout


def test_check_names_the_damage_in_one_line(damaged):
    result = runner.invoke(app, ["check", str(damaged)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {damaged}: damaged: 1 of its 8 MiB")


def test_check_refuses_what_it_cannot_verify(written, tmp_path):
    assert runner.invoke(app, ["check", str(tmp_path / "missing.beton")]).exit_code == 2
    old = tmp_path / "old.beton"
    shutil.copyfile(written, old)
    manifest = json.loads(written.with_suffix(".json").read_text())
    del manifest["checksums"]
    old.with_suffix(".json").write_text(json.dumps(manifest))
    result = runner.invoke(app, ["check", str(old)])
    assert result.exit_code == 2
    assert "records no checksums" in result.stderr and "convert it again" in result.stderr


@pytest.mark.parametrize("backend", ["ffcv", "torch"])
def test_pretrain_stops_before_training_on_a_damaged_file(damaged, tmp_path, backend):
    run = tmp_path / "run"
    result = runner.invoke(app, ["pretrain", str(damaged), "--out", str(run), "--backend",
                                 backend, "--size", "16", "--epochs", "1", "--quiet"])  # fmt: skip
    assert result.exit_code == 2
    assert f"DATA {damaged}: damaged:" in result.stderr
    assert not run.exists()


def test_eval_stops_before_any_work_on_a_damaged_file(damaged, written, tmp_path):
    run = tiny_run(tmp_path / "run")
    result = runner.invoke(app, ["eval", str(run), "--train", str(written), "--test",
                                 str(damaged), "--workers", "0"])  # fmt: skip
    assert result.exit_code == 2
    assert f"--test {damaged}: damaged:" in result.stderr
    assert not (run / "eval").exists()
