import json
import math
import os
import signal

import pytest
import torch
import torchvision
from accelerate.state import AcceleratorState, GradientState
from conftest import tiny_config, train_here
from safetensors.torch import load_file

from visim.core.stop_signals import GracefulStop
from visim.models.siamese import SiameseModel, build_model
from visim.train.checkpoint import checkpoint_paths, load_checkpoint
from visim.train.metrics import combine_processes, read_metrics
from visim.train.progress import status_text
from visim.train.run_dir import RunDir
from visim.train.schedule import lr_factor, peak_lr


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
def test_both_methods_lower_their_loss_on_the_demo_set(tmp_path, fresh_accelerate, method):
    config = tiny_config(
        data={"source": "demo:400"},
        model={"method": method},
        optim={"epochs": 10, "batch_size": 32},
        runtime={"max_steps": 30, "log_every": 5},
    )
    assert train_here(config, tmp_path / "run") == 0
    first, *_, last = read_metrics(tmp_path / "run" / "metrics.jsonl")
    # The alignment of predictions with the other view's target, whatever kappa does.
    assert last["cosine"] > first["cosine"] + 0.05
    if method == "vi-simsiam":
        # The raw loss sits near -log(area of the sphere): compare it to that constant.
        assert last["loss_vs_uniform"] < first["loss_vs_uniform"] - 0.1
        assert last["kappa_mean"] > first["kappa_mean"]
    else:
        assert last["loss"] < first["loss"] - 0.05
    assert not last["collapse"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A short finished run with warmup: 2 epochs of 6 steps, one process."""
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    out = tmp_path_factory.mktemp("finished") / "run"
    config = tiny_config(optim={"warmup_epochs": 1.0})
    assert train_here(config, out) == 0
    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()
    return config, RunDir(out)


def test_run_directory_holds_config_env_metrics_and_two_checkpoints(finished_run):
    config, run_dir = finished_run
    assert run_dir.load_config() == config
    env = json.loads(run_dir.environment.read_text())
    assert env["training"]["processes"] == 1
    assert env["training"]["precision"] == "fp32"
    assert env["packages"]["torch"]
    records = read_metrics(run_dir.metrics)
    assert [r["step"] for r in records] == list(range(1, 13))
    for key in (
        "loss",
        "loss_vs_uniform",
        "kappa_mean",
        "kappa_min",
        "kappa_max",
        "cosine",
        "z_std",
        "z_std_ideal",
        "images_per_s",
        "data_wait",
        "nonfinite_steps",
        "lr",
        # What shows how kappa and the alignment's step size behave.
        "kappa_std",
        "kappa_q05",
        "kappa_median",
        "kappa_q95",
        "align_grad_scale",
        "encoder_grad_norm",
        "effective_lr",
    ):
        assert key in records[-1]
    last = records[-1]
    assert last["kappa_q05"] <= last["kappa_median"] <= last["kappa_q95"] <= last["kappa_max"]
    assert last["effective_lr"] == pytest.approx(last["lr"] * last["align_grad_scale"])
    assert last["encoder_grad_norm"] > 0
    assert records[-1]["z_std_ideal"] == pytest.approx(1 / math.sqrt(config.model.proj_dim))
    # One checkpoint per epoch, the last two kept; the last one is at the end of training.
    names = [p.name for p in checkpoint_paths(run_dir.checkpoints)]
    assert names == ["step-000000006.pt", "step-000000012.pt"]
    position, _ = load_checkpoint(run_dir.checkpoints / names[-1])
    assert (position.epoch, position.batch, position.step) == (2, 0, 12)
    assert run_dir.training_curves.read_bytes().startswith(b"\x89PNG")


def test_lr_follows_warmup_and_cosine_at_chosen_steps(finished_run):
    config, run_dir = finished_run
    records = {r["step"]: r for r in read_metrics(run_dir.metrics)}
    peak = peak_lr(config.optim.lr, config.optim.batch_size)
    for step in (1, 3, 6, 7, 10, 12):  # metrics "step" counts steps done: step s used LR(s - 1)
        expected = peak * lr_factor(step - 1, total_steps=12, warmup_steps=6)
        assert records[step]["lr"] == pytest.approx(expected, rel=1e-12)
        assert records[step]["lr_predictor"] == pytest.approx(peak)  # --fix-pred-lr


def test_backbone_export_loads_strictly_into_torchvision(finished_run):
    config, run_dir = finished_run
    resnet = torchvision.models.resnet18()
    resnet.fc = torch.nn.Identity()
    resnet.load_state_dict(load_file(run_dir.backbone), strict=True)
    model = build_model(config.model)
    model.load_state_dict(load_file(run_dir.model), strict=True)
    # The exported weights are the trained ones: the last checkpoint holds the same model.
    _, state = load_checkpoint(checkpoint_paths(run_dir.checkpoints)[-1])
    for key, value in load_file(run_dir.model).items():
        assert torch.equal(value, state["model"][key].contiguous()), key


def _loss_with_nan_at(calls: set[int] | None, from_call: int | None = None):
    """SiameseModel.loss that returns NaN on the given (1-based) calls or from a call on."""
    real_loss = SiameseModel.loss
    count = 0

    def loss(self, output):
        nonlocal count
        count += 1
        value = real_loss(self, output)
        if (calls and count in calls) or (from_call and count >= from_call):
            return value * float("nan")
        return value

    return loss


def test_a_nonfinite_loss_skips_the_step_and_is_counted(tmp_path, fresh_accelerate, monkeypatch):
    monkeypatch.setattr(SiameseModel, "loss", _loss_with_nan_at({3}))
    config = tiny_config(data={"backend": "synthetic", "synthetic_samples": 64})
    assert train_here(config, tmp_path / "run") == 0
    records = {r["step"]: r for r in read_metrics(tmp_path / "run" / "metrics.jsonl")}
    assert records[2]["nonfinite_steps"] == 0
    assert records[3]["loss"] is None and records[3]["nonfinite_steps"] == 1
    assert records[8]["nonfinite_steps"] == 1 and math.isfinite(records[8]["loss"])
    # Stepping on NaN gradients would have made every weight NaN.
    weights = load_file(RunDir(tmp_path / "run").model)
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_nonfinite_losses_in_a_row_stop_the_run_naming_the_last_good_checkpoint(
    tmp_path, fresh_accelerate, monkeypatch, capsys
):
    monkeypatch.setattr(SiameseModel, "loss", _loss_with_nan_at(None, from_call=6))
    config = tiny_config(
        data={"backend": "synthetic", "synthetic_samples": 64},  # 4 steps per epoch
        runtime={"max_nonfinite_steps": 3},
    )
    assert train_here(config, tmp_path / "run") == 1
    output = capsys.readouterr().out
    assert "stopped at step 8: 3 non-finite losses in a row" in output
    assert "last good checkpoint: " + str(tmp_path / "run/checkpoints/step-000000004.pt") in output
    assert not RunDir(tmp_path / "run").model.exists()


def test_collapse_is_flagged_in_the_record_and_the_status_line():
    summary = {
        "loss_sum": -0.99,
        "finite_steps": 1,
        "steps": 1,
        "seconds": 1.0,
        "data_wait": 0.0,
        "cosine": 0.99,
        "z_std": 0.001,
        "align_grad_scale": 1.0,
        "encoder_grad_norm": 0.5,
    }
    record = combine_processes([summary], proj_dim=64, global_batch_size=8, collapse_ratio=0.2)
    assert record["collapse"] is True
    record.update(step=1, epoch=1, lr=0.1, lr_predictor=0.1, nonfinite_steps=0, eta_s=0.0)
    assert "WARNING: collapse" in status_text(record)
    healthy = combine_processes(
        [{**summary, "z_std": 0.12}], proj_dim=64, global_batch_size=8, collapse_ratio=0.2
    )
    assert healthy["collapse"] is False


def test_combining_processes_pools_the_loss_and_takes_extremes_of_kappa():
    base = {
        "steps": 2,
        "seconds": 1.0,
        "data_wait": 0.1,
        "cosine": 0.5,
        "z_std": 0.1,
        "encoder_grad_norm": 0.5,
    }
    spread = {"kappa_std": 1.0, "kappa_q05": 1.0, "kappa_median": 2.0, "kappa_q95": 3.0}
    summaries = [
        {
            **base,
            **spread,
            "loss_sum": -2.0,
            "finite_steps": 2,
            "kappa_mean": 2.0,
            "kappa_min": 1.0,
            "kappa_max": 3.0,
            "align_grad_scale": 10.0,
        },
        {
            **base,
            **spread,
            "kappa_median": 4.0,
            "loss_sum": -1.0,
            "finite_steps": 1,
            "kappa_mean": 4.0,
            "kappa_min": 0.5,
            "kappa_max": 9.0,
            "align_grad_scale": 30.0,
        },
    ]
    record = combine_processes(summaries, proj_dim=64, global_batch_size=16, collapse_ratio=0.2)
    assert record["loss"] == pytest.approx(-1.0)
    assert (record["kappa_mean"], record["kappa_min"], record["kappa_max"]) == (3.0, 0.5, 9.0)
    # Spreads and the step scale: the mean over processes.
    assert (record["kappa_median"], record["align_grad_scale"]) == (3.0, 20.0)
    assert record["images_per_s"] == pytest.approx(32.0)


def test_a_signal_becomes_a_stop_request_and_a_second_ctrl_c_aborts():
    with GracefulStop(second_signal_aborts=True) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and stop.exit_code == 130
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    with GracefulStop(second_signal_aborts=False) as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.exit_code == 143  # the first signal decides


def test_nonfinite_losses_between_metrics_lines_stop_the_run_at_the_next_one(
    tmp_path, fresh_accelerate, monkeypatch, capsys
):
    monkeypatch.setattr(SiameseModel, "loss", _loss_with_nan_at(None, from_call=2))
    config = tiny_config(
        data={"backend": "synthetic", "synthetic_samples": 128},  # 8 steps per epoch
        runtime={"max_nonfinite_steps": 3, "log_every": 6},
    )
    assert train_here(config, tmp_path / "run") == 1
    output = capsys.readouterr().out
    # Steps 2, 3, 4 made the streak; the host reads it at step 6's metrics line.
    assert "stopped at step 6: 3 non-finite losses in a row by step 4" in output
    (record,) = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert record["nonfinite_steps"] == 5 and math.isfinite(record["loss"])  # step 1 alone


class _HostReads:
    """Counts the ways Python reads a tensor's value (each waits for a GPU)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._counting(original))

    def _counting(self, original):
        def read(tensor, *args):
            self.count += 1
            return original(tensor, *args)

        return read


def test_the_host_reads_no_tensor_between_steps_that_are_not_sync_points(
    tmp_path, fresh_accelerate, monkeypatch
):
    reads = _HostReads(monkeypatch)
    seen_at_loss: list[int] = []
    real_loss = SiameseModel.loss

    def loss(self, output):
        seen_at_loss.append(reads.count)
        return real_loss(self, output)

    monkeypatch.setattr(SiameseModel, "loss", loss)
    config = tiny_config(
        data={"backend": "synthetic", "synthetic_samples": 128},  # 8 steps per epoch
        runtime={"log_every": 4, "max_steps": 8},
    )
    assert train_here(config, tmp_path / "run") == 0
    assert len(seen_at_loss) == 8
    # Steps 1-4 and 5-8 each run without a read; the metrics line after step 4 reads.
    assert len(set(seen_at_loss[:4])) == 1 and len(set(seen_at_loss[4:])) == 1
    assert seen_at_loss[4] > seen_at_loss[3]
