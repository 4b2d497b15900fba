"""`visim bench train` and `visim bench scaling`: clear errors, and a tiny real run."""

import json

import pytest
import torch
from typer.testing import CliRunner

from visim.cli.app import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--archs", "resnet7"], "--archs: unknown 'resnet7'"),
        (["train", "--channels-last", "maybe"], "--channels-last: unknown 'maybe'"),
        (["train", "--backends", "torch"], "--backends must include synthetic"),
        (["train", "--profile", "tpu"], "--profile must be one of auto, cpu, gpu"),
        (["train", "--sweep", "diagonal"], "--sweep: unknown 'diagonal'"),
        (["train", "--windows", "0"], "--windows must be at least 1"),
        (["train", "--data", "no/such/folder"], "no/such/folder"),
        (["scaling", "--sizes", "512"], "--sizes needs at least two different values"),
        (["scaling", "--batch-sizes", "8,x"], "--batch-sizes: expected comma-separated whole"),
        (["scaling", "--case-timeout", "0"], "--case-timeout must be positive"),
        (["train", "--time-budget", "0"], "--time-budget must be positive"),
        (["train", "--compile-archs", "resnet7"], "--compile-archs: unknown 'resnet7'"),
    ],
)
def test_bad_options_exit_2_with_a_message_naming_the_option(args, message):
    result = runner.invoke(app, ["bench", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_and_cpu_only_precisions_are_refused_on_the_cpu():
    result = runner.invoke(app, ["bench", "train", "--device", "cuda"])
    assert result.exit_code == 2 and "no CUDA device is visible" in result.output
    result = runner.invoke(app, ["bench", "train", "--device", "cpu", "--precisions", "fp16"])
    assert result.exit_code == 2 and "fp16 does nothing on the CPU" in result.output


def test_a_tiny_run_writes_json_and_markdown(tmp_path):
    json_path, markdown_path = tmp_path / "train.json", tmp_path / "train.md"
    result = runner.invoke(
        app,
        [
            "bench", "train", "--profile", "cpu", "--device", "cpu",
            "--methods", "simsiam", "--precisions", "fp32", "--channels-last", "on",
            "--compile", "off", "--backends", "synthetic", "--size", "16", "--recipe", "small",
            "--batch-size", "4", "--window-steps", "1", "--windows", "2",
            "--json", str(json_path), "--markdown", str(markdown_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(json_path.read_text())
    assert document["benchmark"] == "train"
    assert document["command"].startswith("visim bench train --profile cpu --methods simsiam")
    assert document["settings"]["device"] == "cpu"
    assert {"git_commit", "packages", "cuda_devices"} <= set(document["environment"])
    (row,) = document["rows"]
    assert row["status"] == "ok" and row["backend"] == "synthetic"
    assert row["images_per_s"] > 0 and row["x_baseline"] == 1.0
    assert [w["steps"] for w in row["windows"]] == [[1, 1], [2, 2], [3, 3]]
    assert row["peak_rss_mib"] > 0 and row["peak_device_mib"] is None
    assert "| simsiam | resnet18 | fp32 | on | off | synthetic |" in markdown_path.read_text()
    # Without --workers a CPU run leaves the step a core of its own.
    cores = document["environment"]["cpu_count"]
    assert document["settings"]["workers"] == max(1, cores - 1)


@pytest.mark.slow
def test_a_tiny_scaling_run_measures_every_size_and_batch(tmp_path):
    json_path = tmp_path / "scaling.json"
    result = runner.invoke(
        app,
        [
            "bench", "scaling", "--profile", "cpu", "--device", "cpu", "--sizes", "8,16",
            "--batch-sizes", "2,4", "--backend", "synthetic", "--size", "16", "--recipe", "small",
            "--json", str(json_path),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(json_path.read_text())
    assert document["benchmark"] == "scaling"
    cells = {(row["images"], row["batch_size"]): row["status"] for row in document["rows"]}
    assert cells == {(8, 2): "ok", (8, 4): "ok", (16, 2): "ok", (16, 4): "ok"}


def test_dry_run_prints_every_case_with_its_estimate_and_runs_none(tmp_path):
    args = ["bench", "train", "--profile", "gpu", "--device", "cuda", "--workers", "16"]
    result = runner.invoke(app, [*args, "--time-budget", "200", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    cases = [line for line in lines if "] " in line and "224px bf16" in line]
    assert len(cases) == 13  # 8 eager, 3 real backends, 2 compiled
    assert "[1] vi-simsiam resnet50 224px bf16 channels_last on compile off" in cases[0]
    assert "(over the time budget)" in cases[-1]
    assert lines[-1].startswith("estimated ") and "of a 200 s budget;" in lines[-1]
    everything = runner.invoke(app, [*args, "--compile-archs", "all", "--dry-run"])
    assert everything.exit_code == 0, everything.output
    assert "would not fit" not in everything.output
    assert sum("compile on" in line for line in everything.output.splitlines()) == 8
