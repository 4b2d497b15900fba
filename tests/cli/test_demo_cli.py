"""`visim demo` at a tiny size: every step, the summary, a re-run that reuses, one-line errors."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from visim.cli.app import app

runner = CliRunner()
# 40 demo images (10 test images), 16 px crops, batch 8: one epoch is 5 steps.
TINY = ["--images", "40", "--epochs", "1", "--size", "16", "--batch-size", "8", "--workers", "0"]


def demo_subprocess(out, *options: str) -> subprocess.CompletedProcess:
    """In a subprocess: Accelerate's state is process-wide, and other tests set it up too."""
    return subprocess.run(
        [sys.executable, "-m", "visim", "demo", "--out", str(out), *TINY, "--quiet", *options],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_prints_the_steps_and_the_summary_then_reuses_its_work(tmp_path):
    out = tmp_path / "demo"
    first = demo_subprocess(out)
    assert first.returncode == 0, first.stderr
    for text in ("Step 1/3", "Step 2/3", "Step 3/3", "random init", "gain", "AUROC"):
        assert text in first.stdout
    eval_json = out / "run" / "eval" / "eval.json"
    assert f"numbers: {eval_json}" in first.stdout
    assert "kNN top-1:" in first.stdout and "total time" in first.stdout
    report = json.loads(eval_json.read_text())
    assert report["settings"]["knn_k"] == 20
    for name in report["plots"]:
        assert f"plot:    {out / 'run' / 'eval' / name}" in first.stdout

    again = demo_subprocess(out)
    assert again.returncode == 0, again.stderr
    assert "reusing the finished run" in again.stdout
    if (out / "data").exists():  # the ffcv backend is installed: the .beton is reused too
        assert f"reusing {out / 'data' / 'demo-40.beton'}" in again.stdout
    assert json.loads(eval_json.read_text())["results"] == report["results"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--images", "12"], "--images must be at least 40, got 12"),
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--batch-size", "1"], "--batch-size must be in [2, --images], got 1"),
        (["--backend", "dali"], "--backend must be one of auto, ffcv, torch, got 'dali'"),
        (["--size", "4"], "--size must be at least 8, got 4"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path, options, message):
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo"), *options])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"error: {message}", result.output
    assert not (tmp_path / "demo").exists()
