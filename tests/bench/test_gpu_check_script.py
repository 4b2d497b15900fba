"""scripts/gpu-check.sh's side that runs anywhere: its options and its --dry-run plan."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "gpu-check.sh"


def run(*args: str) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "GPU_CHECK_WORKERS": "16"}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env
    )


def test_the_dry_run_gives_each_step_its_share_and_the_benchmark_the_rest():
    result = run("--dry-run", "--seconds", "600")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("gpu-check plan: 600 s in all")
    assert "200 s  pytest -m cuda" in out
    # 600 - 20 (setup) - 15 (info) - 200 (tests) - 15 (summary) = 350 for the benchmark.
    assert "350 s  visim bench train --profile gpu" in out
    assert "of a 350 s budget;" in out
    assert "[1] vi-simsiam resnet50 224px bf16 channels_last on compile off" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fast"], "unknown option --fast"),
        (["--seconds", "8m"], "--seconds must be a whole number"),
        (["--seconds", "200"], "leaves -50 s for the benchmark; give at least 310"),
    ],
)
def test_bad_options_exit_2_naming_the_fault(args, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
