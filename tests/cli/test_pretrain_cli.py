"""`visim pretrain` refuses bad options with one line and exit code 2, before any work."""

import dataclasses

import pytest
import torch
from typer.testing import CliRunner

from visim.cli.app import app
from visim.core import extras
from visim.pipeline.backends import registry
from visim.train.config import TrainConfig, apply_overrides
from visim.train.run_dir import RunDir

runner = CliRunner()


def pretrain(*args: str):
    return runner.invoke(app, ["pretrain", *args])


def assert_refused(result, message: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and message in lines[0], lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["demo", "--backend", "tfrecord"],
            "--backend must be one of ffcv, dali, torch, synthetic",
        ),
        (["demo", "--method", "byol"], "--method must be one of simsiam, vi-simsiam"),
        (["demo", "--precision", "fp8"], "--precision must be one of auto, bf16, fp16, fp32"),
        (["demo", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["/no/such/dir", "--backend", "torch"], "DATA /no/such/dir: source not found"),
        (["demo", "--backend", "ffcv"], "--backend ffcv reads a .beton file"),
        (["demo:40", "--batch-size", "64"], "DATA demo:40: 40 samples, fewer than --batch-size 64"),
        ([], "DATA is required with --backend torch"),
        (["demo", "--cpu-processes", "3", "--batch-size", "16"], "--batch-size 16 must split"),
        (["demo", "--cpu-processes", "2", "--sync-bn"], "--sync-bn needs CUDA devices"),
    ],
)
def test_bad_options_are_refused_before_any_work(tmp_path, args, message):
    out = tmp_path / "run"
    assert_refused(pretrain(*args, "--out", str(out)), message)
    assert not out.exists()


def test_out_is_required():
    assert_refused(pretrain("demo"), "--out RUN_DIR is required")


def test_a_backend_whose_extra_is_missing_says_how_to_install_it(tmp_path, monkeypatch):
    not_here = dataclasses.replace(extras.DALI, module="visim_no_such_module")
    absent = dataclasses.replace(registry.BACKENDS["dali"], extra=not_here)
    monkeypatch.setitem(registry.BACKENDS, "dali", absent)
    result = pretrain("demo", "--backend", "dali", "--out", str(tmp_path / "run"))
    assert_refused(result, "backend 'dali' is not installed; run: pip install 'visim[dali]'")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA devices")
def test_gpus_without_a_gpu_points_to_cpu_processes(tmp_path):
    result = pretrain("demo", "--gpus", "2", "--out", str(tmp_path / "run"))
    assert_refused(result, "--gpus 2: no CUDA device is visible here; use --cpu-processes 2")


def test_an_existing_run_is_not_overwritten(tmp_path):
    RunDir(tmp_path).write_config(TrainConfig())
    result = pretrain("demo", "--out", str(tmp_path))
    assert_refused(result, f"--out {tmp_path} already holds a run; continue it with --resume")


def test_resume_refuses_an_incompatible_option(tmp_path):
    stored = apply_overrides(TrainConfig(), {"data.source": "demo", "optim.batch_size": 64})
    RunDir(tmp_path).write_config(stored)
    result = pretrain("--resume", str(tmp_path), "--batch-size", "128")
    assert_refused(result, "--batch-size was 64 in that run and cannot change when resuming")


def test_resume_of_a_directory_without_a_run(tmp_path):
    assert_refused(pretrain("--resume", str(tmp_path)), "no config.toml there")


def test_unknown_option_in_the_config_file(tmp_path):
    config_file = tmp_path / "run.toml"
    config_file.write_text("[optim]\nbatch_sise = 64\n")
    result = pretrain("demo", "--config", str(config_file), "--out", str(tmp_path / "run"))
    assert_refused(result, "unknown option 'batch_sise' in [optim]")
