"""--log-with: what TensorBoard's own reader finds after a tiny run and its evaluation."""

import json
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
from typer.testing import CliRunner

from tests.tiny_run_toml import tiny_run_toml
from visim.cli.app import app
from visim.train.config import ConfigError, config_from_dict
from visim.train.metrics import read_metrics
from visim.train.tracking import scalars

runner = CliRunner()

TINY_RUN = tiny_run_toml(max_steps=3, log_every=1)
EVAL = ["--train", "demo:40", "--test", "demo:40", "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Three logged steps with --log-with tensorboard, in a subprocess: Accelerate's state is
    process-wide."""
    root = tmp_path_factory.mktemp("tracked")
    (root / "tiny.toml").write_text(TINY_RUN)
    out = root / "tiny-run"
    command = [sys.executable, "-m", "visim", "pretrain", "--config", str(root / "tiny.toml")]
    command += ["--out", str(out), "--log-with", "tensorboard"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    return out


def events(run_dir) -> EventAccumulator:
    """The TensorBoard run named after the run directory, as TensorBoard reads it."""
    accumulator = EventAccumulator(str(run_dir / "logs" / run_dir.name), size_guidance={})
    accumulator.Reload()
    return accumulator


def test_tensorboard_sees_every_metrics_scalar_at_its_step(run_dir):
    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    accumulator = events(run_dir)
    logged = set(accumulator.Tags()["scalars"])
    numeric = {k for k, v in records[0].items() if k != "step" and v is not None}
    assert {"loss", "loss_vs_uniform", "kappa_mean", "lr", "cosine", "images_per_s"} <= numeric
    assert numeric <= logged
    for key in numeric:
        points = [(e.step, e.value) for e in accumulator.Scalars(key)]
        expected = [(r["step"], pytest.approx(float(r[key]), rel=1e-6)) for r in records]
        assert points == expected, key


def test_the_resolved_configuration_is_stored_as_hyperparameters(run_dir):
    stored = {}
    # SummaryWriter.add_hparams writes a session of its own in a subfolder.
    for event_file in (run_dir / "logs" / run_dir.name).glob("*/events.out.tfevents.*"):
        accumulator = EventAccumulator(str(event_file.parent))
        accumulator.Reload()
        for content in accumulator.PluginTagToContent("hparams").values():
            data = plugin_data_pb2.HParamsPluginData.FromString(content)
            if data.HasField("session_start_info"):
                stored.update(data.session_start_info.hparams)
    assert stored["optim.batch_size"].number_value == 8
    assert stored["model.method"].string_value == "vi-simsiam"
    assert stored["runtime.log_with"].string_value == "tensorboard"
    assert stored["data.source"].string_value == "demo:40"


def test_eval_logs_accuracies_aurocs_and_histograms_to_the_runs_tracker(run_dir):
    result = runner.invoke(
        app, ["eval", str(run_dir), *EVAL, "--augmented-images", "10", "--no-plots"]
    )
    assert result.exit_code == 0, result.output
    assert "logged the results to the tensorboard tracker" in result.output
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    accumulator = events(run_dir)
    scalars_logged = set(accumulator.Tags()["scalars"])

    def value(tag):
        (event,) = accumulator.Scalars(tag)
        assert event.step == 3  # the step the evaluated weights were trained to
        return event.value

    for variant in ("pretrained", "random_init"):
        for classifier in ("knn", "linear_probe"):
            top1 = report["results"][variant][classifier]["top1"]
            assert value(f"eval/{variant}/{classifier}/top1") == pytest.approx(top1)
    auroc = report["kappa"]["vs_probe_correctness"]["auroc_correct"]
    if auroc is None:  # undefined when the probe is right (or wrong) on every image
        assert "eval/kappa/auroc_correct" not in scalars_logged
    else:
        assert value("eval/kappa/auroc_correct") == pytest.approx(auroc)
    median = report["kappa"]["summary"]["clean"]["median"]
    assert value("eval/kappa/clean/median") == pytest.approx(median)
    uncertainty = report["uncertainty"]
    assert value("eval/uncertainty/r_at_1") == pytest.approx(uncertainty["r_at_1"])
    cropped = uncertainty["scores"]["inverse_norm"]["cropped_higher"]
    assert value("eval/uncertainty/scores/inverse_norm/cropped_higher") == pytest.approx(cropped)
    spread = report["kappa"]["spread"]["relative_range"]
    assert value("eval/kappa/spread/relative_range") == pytest.approx(spread)

    counts = report["kappa"]["histogram"]["counts"]
    for name, images in (("clean", 10), ("augmented", 20)):
        (histogram,) = accumulator.Histograms(f"eval/kappa_histogram/{name}")
        assert histogram.step == 3
        assert histogram.histogram_value.num == images == sum(counts[name])


def test_a_missing_tracker_package_is_one_line_naming_the_extra(run_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import now fails
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY_RUN)
    out = tmp_path / "run"
    pretrain = runner.invoke(
        app, ["pretrain", "--config", str(toml), "--out", str(out), "--log-with", "tensorboard"]
    )
    assert pretrain.exit_code == 2
    lines = pretrain.output.strip().splitlines()
    assert lines == [
        "error: --log-with tensorboard: the tensorboard package is not installed; "
        "run: pip install 'visim[tensorboard]'"
    ]
    assert not out.exists()

    # eval follows the run's tracker unless told otherwise, and checks it the same way.
    evaluation = runner.invoke(app, ["eval", str(run_dir), *EVAL])
    assert evaluation.exit_code == 2
    assert "pip install 'visim[tensorboard]'" in evaluation.output
    monkeypatch.setitem(sys.modules, "wandb", None)
    other = runner.invoke(app, ["eval", str(run_dir), *EVAL, "--log-with", "wandb"])
    assert other.exit_code == 2
    assert "--log-with wandb: the wandb package is not installed" in other.output


def test_log_with_is_a_config_field_with_choices():
    assert config_from_dict({}).runtime.log_with == "none"
    chosen = config_from_dict({"runtime": {"log_with": "mlflow"}})
    assert chosen.runtime.log_with == "mlflow"
    with pytest.raises(ConfigError, match="--log-with must be one of none, tensorboard, wandb"):
        config_from_dict({"runtime": {"log_with": "comet"}})


def test_scalars_are_the_numbers_of_a_record():
    record = {"loss": -8.5, "collapse": True, "loss_vs_uniform": None, "note": "x", "n": 3}
    nested = {"pretrained": {"knn": {"top1": 0.25}}, "bins": [1, 2]}
    assert scalars(record) == {"loss": -8.5, "collapse": 1.0, "n": 3.0}
    assert scalars(nested, "eval/") == {"eval/pretrained/knn/top1": 0.25}
