"""Stopping and resuming must not change the result: same weights as a run never stopped."""

import os
import signal
import subprocess
import time

import pytest
import torch
from accelerate.state import AcceleratorState, GradientState
from conftest import (
    pretrain_command,
    run_pretrain_subprocess,
    tiny_config,
    train_here,
    write_toml,
)
from safetensors.torch import load_file
from typer.testing import CliRunner

from visim.cli.app import app
from visim.train.checkpoint import HOLD_BEFORE_RENAME_ENV, checkpoint_paths, load_checkpoint
from visim.train.config import apply_overrides
from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir

# 96 demo images in batches of 16: 6 steps per epoch, 12 in all.
CONFIG = tiny_config()


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory) -> RunDir:
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    out = tmp_path_factory.mktemp("straight") / "run"
    assert train_here(CONFIG, out) == 0
    return RunDir(out)


def assert_same_weights(a: RunDir, b: RunDir) -> None:
    first, second = load_file(a.model), load_file(b.model)
    assert first.keys() == second.keys()
    for key in first:
        torch.testing.assert_close(first[key], second[key], atol=1e-6, rtol=0, msg=key)


def test_one_epoch_then_resume_gives_the_straight_runs_weights(
    tmp_path, straight_run, fresh_accelerate
):
    out = tmp_path / "run"
    assert train_here(apply_overrides(CONFIG, {"runtime.max_steps": 6}), out) == 0
    position, _ = load_checkpoint(RunDir(out).latest_checkpoint())
    assert (position.epoch, position.batch, position.step) == (1, 0, 6)

    result = CliRunner().invoke(app, ["pretrain", "--resume", str(out), "--max-steps", "0"])
    assert result.exit_code == 0, result.output
    assert "resuming with changed options: --max-steps" in result.output
    assert_same_weights(RunDir(out), straight_run)
    steps = [record["step"] for record in read_metrics(RunDir(out).metrics)]
    assert steps == list(range(1, 13))  # no step logged twice


def test_sigterm_checkpoints_exits_143_and_resume_matches_the_straight_run(
    tmp_path, straight_run, fresh_accelerate
):
    out = tmp_path / "run"
    config_file = write_toml(tmp_path / "run.toml", CONFIG)
    process = subprocess.Popen(
        pretrain_command("--config", str(config_file), "--out", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    metrics = RunDir(out).metrics
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text()) and process.poll() is None:
        assert time.monotonic() < deadline, "no metrics line within 120 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output
    assert f"resume with: visim pretrain --resume {out}" in output
    position, _ = load_checkpoint(RunDir(out).latest_checkpoint())
    assert 1 <= position.step < 12

    result = CliRunner().invoke(app, ["pretrain", "--resume", str(out)])
    assert result.exit_code == 0, result.output
    assert_same_weights(RunDir(out), straight_run)


def test_a_damaged_newest_checkpoint_is_skipped_and_the_run_still_matches(
    tmp_path, straight_run, fresh_accelerate
):
    out = tmp_path / "run"
    # Checkpoints at the end of epoch 1 (step 6) and at --max-steps (step 9).
    assert train_here(apply_overrides(CONFIG, {"runtime.max_steps": 9}), out) == 0
    older, newest = checkpoint_paths(RunDir(out).checkpoints)
    newest.write_bytes(newest.read_bytes()[:1000])  # cut short, as by a full disk

    result = CliRunner().invoke(app, ["pretrain", "--resume", str(out), "--max-steps", "0"])
    assert result.exit_code == 0, result.output
    assert f"skipped checkpoint {newest.name} cannot be read" in result.output
    assert_same_weights(RunDir(out), straight_run)
    steps = [record["step"] for record in read_metrics(RunDir(out).metrics)]
    assert steps == list(range(1, 13))  # steps 7-9 trained again, logged once


def test_no_checkpoint_that_loads_is_a_one_line_error(tmp_path, fresh_accelerate):
    out = tmp_path / "run"
    assert train_here(apply_overrides(CONFIG, {"runtime.max_steps": 6}), out) == 0
    for path in checkpoint_paths(RunDir(out).checkpoints):
        path.write_bytes(b"")
    result = CliRunner().invoke(app, ["pretrain", "--resume", str(out)])
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: --resume {out}: no checkpoint in {out / 'checkpoints'}")
    assert "step-000000006.pt cannot be read" in line


def steps_logged(run_dir: RunDir) -> int:
    """The last step in metrics.jsonl so far; 0 before the first line."""
    records = read_metrics(run_dir.metrics) if run_dir.metrics.exists() else []
    return records[-1]["step"] if records else 0


def kill_when(command: list[str], ready, env: dict | None = None) -> None:
    """Run `command`, SIGKILL it once ready() is true; fails if it ends on its own first."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    try:
        deadline = time.monotonic() + 240
        while not ready():
            assert process.poll() is None, "the run ended before the moment to kill it"
            assert time.monotonic() < deadline, "the moment to kill the run never came"
            time.sleep(0.01)
    finally:  # at the moment, or when the test failed
        process.kill()
        process.wait()


# Moments of a 12-step run (checkpoints at step 6, the end of epoch 1, and at the end): before
# any checkpoint; in a checkpoint write, its temporary file complete but not yet renamed; and
# mid-way through epoch 2, steps logged beyond the newest checkpoint.
KILL_MOMENTS = ["before-a-checkpoint", "during-a-checkpoint-write", "after-a-checkpoint"]


@pytest.mark.slow
@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_sigkill_at_any_moment_then_resume_gives_the_straight_run(tmp_path, straight_run, moment):
    out = tmp_path / "run"
    run_dir = RunDir(out)
    command = pretrain_command("--config", str(write_toml(tmp_path / "run.toml", CONFIG)),
                               "--out", str(out))  # fmt: skip
    env = None
    if moment == "during-a-checkpoint-write":
        held = tmp_path / "held"
        env = {**os.environ, HOLD_BEFORE_RENAME_ENV: str(held)}
        kill_when(command, held.exists, env)
        assert list(run_dir.checkpoints.glob(".step-*.pt.tmp")), "not killed inside a write"
    elif moment == "before-a-checkpoint":
        kill_when(command, lambda: steps_logged(run_dir) >= 2)
        assert run_dir.latest_checkpoint() is None
    else:
        kill_when(command, lambda: steps_logged(run_dir) >= 8)
        assert load_checkpoint(run_dir.latest_checkpoint())[0].step == 6

    # Resumed in a process of its own, as after a real crash.
    resumed = run_pretrain_subprocess("--resume", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(run_dir, straight_run)
    steps = [record["step"] for record in read_metrics(run_dir.metrics)]
    assert steps == list(range(1, 13))  # none missing, none twice
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
