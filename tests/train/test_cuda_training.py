"""The training step on CUDA: bf16 and channels_last, torch.compile, one process per GPU.

CUDA only: skipped without a device (scripts/gpu-check.sh runs them on a GPU machine).
"""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import pretrain_command

from visim.train.metrics import read_metrics

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

# A short synthetic run: resnet18 at 32 px with small heads, on the GPU.
RUN = (
    "--backend", "synthetic", "--method", "vi-simsiam", "--arch", "resnet18", "--recipe",
    "cifar", "--size", "32", "--batch-size", "32", "--epochs", "1", "--max-steps", "6",
    "--log-every", "3", "--checkpoint-every", "0", "--quiet",
)  # fmt: skip


def pretrain(out, *options, env=None, timeout=600):
    result = subprocess.run(
        pretrain_command(*RUN, "--out", str(out), *options),
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    training = json.loads((out / "env.json").read_text())["training"]
    return training, read_metrics(out / "metrics.jsonl")


def test_bf16_channels_last_training_steps_on_the_gpu(tmp_path):
    # channels_last off is measured by the GPU benchmark; here the default route.
    training, records = pretrain(tmp_path / "run", "--precision", "auto", "--channels-last")
    assert training["precision"] == "bf16"  # auto on a GPU with bf16 units
    assert training["device"].startswith("cuda")
    assert [r["step"] for r in records] == [3, 6]
    assert all(math.isfinite(r["loss"]) and r["nonfinite_steps"] == 0 for r in records)


def test_compiled_training_steps_on_the_gpu(tmp_path):
    training, records = pretrain(tmp_path / "run", "--precision", "bf16", "--compile")
    assert training["precision"] == "bf16"
    assert all(math.isfinite(r["loss"]) for r in records)


def test_a_process_that_sees_one_gpu_trains_on_it_whatever_its_local_rank(tmp_path):
    """A launcher that gives each process its own GPU sets CUDA_VISIBLE_DEVICES per process
    and LOCAL_RANK to the process's place on the machine: rank 1 then sees one device, cuda:0.
    Two such processes, each given one of the first two GPUs, train together."""
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA devices")
    port = "29517"
    processes = []
    for rank in range(2):
        env = {
            **os.environ, "CUDA_VISIBLE_DEVICES": str(rank), "RANK": str(rank),
            "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port,
        }  # fmt: skip
        command = [*pretrain_command(*RUN, "--out", str(tmp_path / "run"))]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    training = json.loads((tmp_path / "run" / "env.json").read_text())["training"]
    assert training["processes"] == 2 and training["device"] == "cuda:0"


def test_gpus_2_gives_each_process_its_own_device(tmp_path):
    if torch.cuda.device_count() < 2:
        pytest.skip("needs 2 CUDA devices")
    result = subprocess.run(
        [sys.executable, "-m", "visim", "pretrain", *RUN, "--gpus", "2", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(read_metrics(tmp_path / "metrics.jsonl")) == 2
