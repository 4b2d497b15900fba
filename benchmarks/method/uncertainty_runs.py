"""One run of the uncertainty benchmark (uncertainty_benchmark.py): its options, the settings
its row is recorded with, pre-training and evaluation from scratch, and the row its eval.json
gives.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

from method_runs import visim
from uncertainty_data import DATA_VERSION, OOD_PARTNER, Sizes, set_file

from visim.core.atomic_write import write_text_atomically
from visim.evaluation.eval_report import EvalReport, json_ready, read_eval_report
from visim.train.config import TrainConfig
from visim.train.environment import environment_report

# What each configuration adds to the common options; "vi-simsiam" names no method option on
# purpose: it follows visim's defaults, which the row's settings record (model_defaults).
CONFIGURATIONS: dict[str, list[str]] = {
    "simsiam": ["--method", "simsiam"],
    "vi-simsiam": ["--method", "vi-simsiam"],
    "vi-paper": ["--method", "vi-simsiam", "--vi-loss", "nll", "--kappa-param", "softplus"],
}
# Screened on the validation parts (docs/method.md 6.4, 6.5). The loss forms replace the
# default's; the others are one option away from the former default, the relative form,
# which they name so that their rows keep standing for what they ran.
SCREENED: dict[str, list[str]] = {
    "vi-relative": ["--method", "vi-simsiam", "--vi-loss", "relative"],
    "vi-unweighted": ["--method", "vi-simsiam", "--vi-loss", "unweighted"],
    "vi-mean-kappa": ["--method", "vi-simsiam", "--vi-loss", "mean-kappa"],
    "vi-nll": ["--method", "vi-simsiam", "--vi-loss", "nll"],
    **{
        name: ["--method", "vi-simsiam", *option, "--vi-loss", "relative"]
        for name, option in (
            ("vi-projector", ["--kappa-source", "projector"]),
            ("vi-backbone", ["--kappa-source", "backbone"]),
            ("vi-no-bank", ["--kappa-support", "none"]),
            ("vi-detached", ["--kappa-detach"]),
        )
    },
}
# Screened and not kept: their rows stay in the tables as evidence and cannot be rerun from
# this commit; each says how to rerun it ({commit}: the one its rows name).
RETIRED = {
    "vi-prototype": "its option (--kappa-param prototype) was removed after this screen; "
    "rerun from commit {commit}",
    **dict.fromkeys(
        ("vi-ranking", "vi-pair"),
        "never an option of visim: screened with benchmarks/method/alongside_heads.patch "
        "applied to commit {commit}",
    ),
}
METHOD_OPTIONS = {**CONFIGURATIONS, **SCREENED}
BUDGETS = {"short": 2, "long": 6}  # epochs
HEADS = {"proj_dim": 512, "pred_hidden_dim": 128}  # only settable in a TOML file
# Of 1,000-1,600 training images (100-200 a class), visim's 200 neighbours would outnumber
# an image's own class.
KNN_K = 20


def pretrain_options(epochs: int, seed: int, workers: int) -> list[str]:
    """Every run's options besides its data, run directory, heads file and configuration."""
    return [
        *("--backend", "torch", "--arch", "resnet18", "--recipe", "cifar", "--size", "32"),
        *("--epochs", str(epochs), "--batch-size", "64", "--lr", "0.05"),
        *("--workers", str(workers), "--seed", str(seed), "--checkpoint-every", "0"),
        *("--quiet", "--log-every", "25"),
    ]


def eval_options(sizes: Sizes, workers: int) -> list[str]:
    """Every evaluation's options besides its data and runs. Augmented views only feed
    kappa's histogram, which the table does not show: skipped to save CPU time."""
    return [
        *("--knn-k", str(KNN_K), "--augmented-images", "0"),
        *("--degraded-images", str(sizes.evaluation), "--workers", str(workers), "--no-plots"),
    ]


@dataclasses.dataclass(frozen=True)
class Run:
    """One cell of the benchmark: a configuration of a set, budget and seed."""

    split: str
    data_set: str
    budget: str
    seed: int
    configuration: str

    @property
    def key(self) -> str:
        return f"{self.split}/{self.data_set}/{self.budget}/seed{self.seed}/{self.configuration}"

    def run_dir(self, out: Path, sizes: Sizes) -> Path:
        return sizes.folder(out) / self.key

    def simsiam(self) -> Run:
        return dataclasses.replace(self, configuration="simsiam")


def settings_of(run: Run, sizes: Sizes, workers: int) -> dict:
    """What a row's numbers depend on; a recorded row with other settings is redone. Paths
    are left out: where data and runs are kept changes no number. As JSON gives it back, so
    that a recorded row compares equal (tuples come back as lists)."""
    settings = {
        "split": run.split,
        "set": run.data_set,
        "ood": OOD_PARTNER[run.data_set],
        "budget": run.budget,
        "seed": run.seed,
        "configuration": run.configuration,
        "epochs": BUDGETS[run.budget],
        "sizes": dataclasses.asdict(sizes),
        "data_version": DATA_VERSION,
        "pretrain": pretrain_options(BUDGETS[run.budget], run.seed, workers),
        "method_options": METHOD_OPTIONS[run.configuration],
        "heads": HEADS,
        "eval": eval_options(sizes, workers),
        "model_defaults": dataclasses.asdict(TrainConfig().model),
    }
    return json.loads(json.dumps(settings))


def same_settings(recorded: dict, now: dict) -> bool:
    """Whether a row recorded with `recorded` stands for a run with settings `now`. A model
    option removed since then (its "model_defaults" entry gone from `now`) is ignored: the
    option was retired at its default, which is the behaviour that stays. Any other
    difference, a new option included, makes the row stale."""
    kept = {key: recorded.get("model_defaults", {}).get(key) for key in now["model_defaults"]}
    return {**recorded, "model_defaults": kept} == now


def complete(run_dir: Path) -> bool:
    """eval.json is written last, atomically: a run directory without it was interrupted."""
    return (run_dir / "eval" / "eval.json").is_file()


def row_of(report: EvalReport) -> dict:
    """The numbers the tables show, from one eval report (as the rows record them: JSON)."""
    pretrained = report.results["pretrained"]
    return {
        "knn_top1": pretrained.knn.top1,
        "probe_top1": pretrained.linear_probe.top1,
        "random_init_knn_top1": report.results["random_init"].knn.top1,
        "uncertainty": json_ready(report.uncertainty),
        "kappa_spread": None if report.kappa is None else json_ready(report.kappa.spread),
    }


def heads_file(out: Path) -> Path:
    path = out / "heads.toml"
    text = "[model]\n" + "".join(f"{key} = {value}\n" for key, value in HEADS.items())
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        write_text_atomically(path, text)
    return path


def execute(run: Run, args: argparse.Namespace, settings: dict) -> dict:
    """Pre-train and evaluate `run` from scratch; its row."""
    sizes = args.sizes
    run_dir = run.run_dir(args.out, sizes)
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a benchmark measures whole runs, never a resumed one
    folder = sizes.folder(args.cache)
    data = str(set_file(folder, run.data_set, run.split))
    ood = str(set_file(folder, OOD_PARTNER[run.data_set], run.split))
    pretrain = [
        *("pretrain", data, "--out", str(run_dir), "--config", str(heads_file(args.out))),
        *settings["pretrain"],
        *settings["method_options"],
    ]
    evaluate = [
        *("eval", str(run_dir), "--train", data, "--train-split", "train"),
        *("--test", data, "--test-split", "test", "--ood", ood, "--ood-split", "test"),
        *settings["eval"],
    ]
    if run.configuration != "simsiam":
        evaluate += ["--compare", str(run.simsiam().run_dir(args.out, sizes))]
    seconds = {"pretrain": visim(pretrain), "eval": visim(evaluate)}
    report = read_eval_report(run_dir / "eval" / "eval.json")
    # The row needs only the exported model (a later row's --compare reads the SimSiam one);
    # the training checkpoints are two thirds of a run's 280 MB, 20 GB over a whole table.
    shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    env = environment_report()
    return {
        "settings": settings,
        # Rows accumulate over sessions: each says where its seconds come from.
        "ran_on": {"cpu": env.get("cpu_model", "not recorded"), "commit": env["git_commit"]},
        "commands": ["visim " + " ".join(pretrain), "visim " + " ".join(evaluate)],
        "seconds": seconds,
        **row_of(report),
    }
