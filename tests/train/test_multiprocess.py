"""Two CPU processes (gloo) started by `visim pretrain --cpu-processes 2`: the distributed path."""

import json

import pytest
from conftest import run_pretrain_subprocess, tiny_config, write_toml

from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir
from visim.train.schedule import lr_factor, peak_lr

# 64 synthetic samples (the label of a synthetic sample is its id), global batch 16 = 8 per
# process: 4 steps per epoch, 8 in all, the first epoch warming up.
CONFIG = tiny_config(
    data={"backend": "synthetic", "synthetic_samples": 64},
    optim={"warmup_epochs": 1.0},
    runtime={"record_samples": True},
)
STEPS_PER_EPOCH = 4


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory) -> RunDir:
    tmp = tmp_path_factory.mktemp("two")
    out = tmp / "run"
    args = ["--config", str(write_toml(tmp / "run.toml", CONFIG)), "--out", str(out)]
    result = run_pretrain_subprocess(*args, "--cpu-processes", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    return RunDir(out)


def _record(run_dir: RunDir, rank: int) -> dict:
    return json.loads((run_dir.debug / f"rank{rank}.json").read_text())


def test_processes_see_disjoint_data_covering_each_epoch(two_process_run):
    per_epoch = 64  # every sample is used: 64 is a multiple of the global batch
    ranks = [_record(two_process_run, rank)["labels"] for rank in (0, 1)]
    assert [len(labels) for labels in ranks] == [2 * per_epoch // 2] * 2
    for epoch in range(2):
        shards = [set(labels[epoch * 32 : (epoch + 1) * 32]) for labels in ranks]
        assert not shards[0] & shards[1]
        assert shards[0] | shards[1] == set(range(per_epoch))


def test_processes_end_with_identical_weights(two_process_run):
    assert (
        _record(two_process_run, 0)["parameters_sha256"]
        == _record(two_process_run, 1)["parameters_sha256"]
    )


def test_run_records_two_processes_and_steps_the_schedule_once_per_step(two_process_run):
    env = json.loads(two_process_run.environment.read_text())
    assert env["training"]["processes"] == 2
    assert env["training"]["per_process_batch_size"] == 8
    records = read_metrics(two_process_run.metrics)
    assert [r["step"] for r in records] == list(range(1, 9))  # rank 0 alone writes
    peak = peak_lr(CONFIG.optim.lr, CONFIG.optim.batch_size)
    for record in records:
        factor = lr_factor(record["step"] - 1, total_steps=8, warmup_steps=STEPS_PER_EPOCH)
        assert record["lr"] == pytest.approx(peak * factor, rel=1e-12)
        assert record["lr_predictor"] == pytest.approx(peak)
    assert two_process_run.model.exists() and two_process_run.backbone.exists()
