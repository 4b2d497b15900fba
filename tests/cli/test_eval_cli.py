"""`visim eval` on a real, tiny `visim pretrain` run (VI-SimSiam, resnet18 CIFAR stem, demo)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.tiny_run_toml import tiny_run_toml
from visim.cli.app import app

runner = CliRunner()

TINY_RUN = tiny_run_toml(max_steps=2)
QUICK = ["--workers", "0", "--batch-size", "64", "--kappa-bins", "5", "--device", "cpu"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Two optimizer steps of real pre-training; in a subprocess, since Accelerate's state is
    process-wide and other tests may have set it up differently."""
    root = tmp_path_factory.mktemp("eval-cli")
    (root / "tiny.toml").write_text(TINY_RUN)
    out = root / "run"
    subprocess.run(
        [sys.executable, "-m", "visim", "pretrain", "--config", str(root / "tiny.toml")]
        + ["--out", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out


def evaluate(run_dir, *options):
    args = ["eval", str(run_dir), "--train", "demo:40", "--test", "demo:40", *QUICK, *options]
    return runner.invoke(app, args, terminal_width=200)


def test_eval_writes_numbers_and_plots_then_reuses_features(run_dir):
    result = evaluate(run_dir, "--ood", "demo:40:9", "--augmented-images", "10")
    assert result.exit_code == 0, result.output
    for text in ("pre-trained", "random init", "gain", "R-AUROC", "FPR95", "Spearman"):
        assert text in result.output
    for score in ("kNN cos k=10", "kNN dist k=50", "1 / feat. norm", "probe entropy"):
        assert score in result.output

    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert report["method"] == "vi-simsiam"
    assert report["data"]["test"]["images"] == 10
    kappa = report["kappa"]
    assert sum(b["count"] for b in kappa["vs_probe_correctness"]["bins"]) == 10
    assert 0 <= report["uncertainty"]["scores"]["kappa"]["ood_auroc"] <= 1
    counts = kappa["histogram"]["counts"]
    assert (sum(counts["clean"]), sum(counts["augmented"]), sum(counts["ood"])) == (10, 20, 10)
    assert len(kappa["extremes"]["highest"]) == len(kappa["extremes"]["lowest"]) == 10
    assert len(report["plots"]) == 4
    for name in report["plots"]:
        assert (run_dir / "eval" / name).read_bytes().startswith(PNG_MAGIC)

    again = evaluate(run_dir, "--ood", "demo:40:9", "--augmented-images", "0", "--no-plots")
    assert again.exit_code == 0, again.output
    second = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert second["feature_cache_hits"] == 5  # 2 variants x (train, test) + the OOD set
    assert second["results"] == report["results"]


def test_missing_plots_extra_warns_and_still_writes_the_numbers(run_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import now fails
    for png in (run_dir / "eval").glob("*.png"):
        png.unlink()
    result = evaluate(run_dir, "--augmented-images", "0")
    assert result.exit_code == 0, result.output
    assert "pip install 'visim[plots]'" in result.output
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert report["plots"] == []
    assert "linear_probe" in report["results"]["pretrained"]
    assert not list((run_dir / "eval").glob("*.png"))


def test_run_without_checkpoint_is_a_clear_error(run_dir, tmp_path):
    (tmp_path / "config.toml").write_text((run_dir / "config.toml").read_text())
    result = evaluate(tmp_path)
    assert result.exit_code == 2
    assert "no checkpoint yet" in result.output


def test_test_classes_differing_from_train_is_a_clear_error(run_dir, tmp_path):
    npz = tmp_path / "digits.npz"
    np.savez(npz, x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 2, 3]))
    result = runner.invoke(
        app,
        ["eval", str(run_dir), "--train", "demo:40", "--test", str(npz), "--test-split", "train"],
    )
    assert result.exit_code == 2
    assert "classes differ" in result.output


def test_compare_prints_the_other_runs_label_free_scores(run_dir):
    result = evaluate(run_dir, "--augmented-images", "0", "--no-plots", "--compare", str(run_dir))
    assert result.exit_code == 0, result.output
    assert "kNN cos k=10 [vi-simsiam]" in result.output
    assert "compare run [vi-simsiam] R@1" in result.output
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    assert report["settings"]["compare"] == str(run_dir)
    compared = report["uncertainty"]["compare"]["scores"]
    # The run compared with itself: the same label-free scores, measured the same way.
    for name, metrics in compared.items():
        assert metrics == report["uncertainty"]["scores"][name]


def test_a_bad_degraded_count_names_its_option(run_dir):
    result = evaluate(run_dir, "--degraded-images", "-1")
    assert result.exit_code == 2
    assert "--degraded-images must be at least 0" in result.output
