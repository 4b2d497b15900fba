"""Shared by the method benchmarks: one pre-training + evaluation per named configuration,
and the table row its eval.json gives.

Each configuration is a list of `visim pretrain` options laid over a common base; every run
is evaluated the same way (kNN, linear probe, kappa with every readout, the uncertainty
baselines, in- vs out-of-distribution on the demo set).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from visim.evaluation.eval_report import EvalReport, json_ready, read_eval_report


def vi(
    loss: str, param: str, source: str = "predictor-hidden", support: str = "none", *more: str
) -> list[str]:
    """VI-SimSiam's options with every objective choice spelled out, so that a row keeps its
    meaning when a default changes (rows recorded before --kappa-support existed ran with
    "none")."""
    return [
        *("--method", "vi-simsiam", "--vi-loss", loss, "--kappa-param", param),
        *("--kappa-source", source, "--kappa-support", support, *more),
    ]


# What each configuration adds to the common `visim pretrain` options.
CONFIGURATIONS: dict[str, list[str]] = {
    "simsiam": ["--method", "simsiam"],
    # The paper's objective with the softplus head on the predictor's hidden layer.
    "vi-nll": vi("nll", "softplus"),
    "vi-nll-moment": vi("nll", "moment"),
    "vi-relative": vi("relative", "softplus"),
    "vi-relative-moment": vi("relative", "moment"),
    "vi-relative-moment-detach": vi(
        "relative", "moment", "predictor-hidden", "none", "--kappa-detach"
    ),
    "vi-relative-detach": vi("relative", "softplus", "predictor-hidden", "none", "--kappa-detach"),
    "vi-unweighted-moment-detach": vi(
        "unweighted", "moment", "predictor-hidden", "none", "--kappa-detach"
    ),
    "vi-unweighted-moment": vi("unweighted", "moment"),
    "vi-relative-moment-backbone": vi("relative", "moment", "backbone"),
    "vi-relative-moment-projector": vi("relative", "moment", "projector"),
    "vi-relative-moment-support": vi("relative", "moment", "predictor-hidden", "bank"),
    "vi-relative-moment-backbone-support": vi("relative", "moment", "backbone", "bank"),
}
OOD = "demo:4000:0"  # its test split: 1,000 coloured shapes, nothing like the clothing
KAPPA_VIEWS = 8


def chosen(parser: argparse.ArgumentParser, names: str, known: dict) -> list[str]:
    """The comma-separated configuration names, or the parser's error naming unknown ones."""
    chosen_names = names.split(",")
    unknown = [name for name in chosen_names if name not in known]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; known: {', '.join(known)}")
    return chosen_names


def visim(command: list[str]) -> float:
    """Run a visim command in this interpreter's environment; its wall time in seconds."""
    print("$ visim", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "visim", *command], check=True)
    return time.perf_counter() - start


def run_configuration(
    name: str,
    base: list[str],
    train: str,
    test: str,
    test_split: str,
    run_dir: Path,
    workers: int,
) -> dict:
    """Pre-train `name` from scratch into run_dir, evaluate it; its results and commands."""
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a benchmark measures a whole run, never a resumed one
    pretrain = ["pretrain", train, "--out", str(run_dir), *base, *CONFIGURATIONS[name]]
    evaluate = [
        *("eval", str(run_dir), "--train", train, "--test", test, "--test-split", test_split),
        *("--workers", str(workers), "--augmented-images", "2000", "--ood", OOD),
        *("--kappa-readout", "fit", "--kappa-views", str(KAPPA_VIEWS), "--no-plots"),
    ]
    seconds = {"pretrain": visim(pretrain), "eval": visim(evaluate)}
    report = read_eval_report(run_dir / "eval" / "eval.json")
    return {
        "commands": ["visim " + " ".join(pretrain), "visim " + " ".join(evaluate)],
        "seconds": seconds,
        **row_of(report),
    }


def row_of(report: EvalReport) -> dict:
    """The numbers a method table shows, from one eval report (as its rows record them: JSON)."""
    row = {
        "results": json_ready(report.results),
        "baselines": json_ready(report.uncertainty.scores),
        "kappa": None,
    }
    kappa = report.kappa
    if kappa is not None:
        row["kappa"] = {
            "by_readout": json_ready(kappa.by_readout),
            "median": {name: summary.median for name, summary in kappa.summary.items()},
            "augmented_below_clean": kappa.augmented_below_clean,
        }
    return row


def percent(value: float) -> str:
    return f"{100 * value:.1f}"


def number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def markdown_table(rows: dict[str, dict]) -> list[str]:
    """One line per configuration: accuracies, kappa AUROCs per readout, baselines."""
    lines = [
        "| configuration | kNN top-1 | probe top-1 | kappa AUROC right answer (center / mean / "
        "median / fit of 8 views) | kappa OOD AUROC (center / mean / median / fit) | median "
        "kappa clean / "
        "augmented | kNN mean-cosine AUROC right / OOD | probe-entropy AUROC right / OOD | "
        "pretrain s |",
        "|---|---:|---:|---|---|---|---|---|---:|",
    ]
    for name, row in rows.items():
        pretrained = row["results"]["pretrained"]
        base = row["baselines"]
        kappa = row["kappa"]
        if kappa is None:
            right = ood = medians = "-"
        else:
            by = kappa["by_readout"]
            readouts = [r for r in ("center", "mean", "median", "fit") if r in by]
            # Rows recorded before eval's URL metrics called the probe AUROC auroc_correct.
            right = " / ".join(
                number(by[r].get("probe_auroc", by[r].get("auroc_correct"))) for r in readouts
            )
            ood = " / ".join(number(by[r]["ood_auroc"]) for r in readouts)
            m = kappa["median"]
            medians = f"{m['clean']:.4g} / {m.get('augmented', float('nan')):.4g}"
        lines.append(
            f"| {name} | {percent(pretrained['knn']['top1'])} | "
            f"{percent(pretrained['linear_probe']['top1'])} | {right} | {ood} | {medians} | "
            f"{number(base.get('knn_mean_cosine', {}).get('probe_auroc'))} / "
            f"{number(base.get('knn_mean_cosine', {}).get('ood_auroc'))} | "
            f"{number(base.get('probe_entropy', {}).get('probe_auroc'))} / "
            f"{number(base.get('probe_entropy', {}).get('ood_auroc'))} | "
            f"{row['seconds']['pretrain']:.0f} |"
        )
    return lines


def commands_and_machine(rows: dict[str, dict], env: dict) -> list[str]:
    """The lines after a method table: every command that made it, and the machine it ran on."""
    return [
        "Commands:",
        "",
        "```",
        *(command for row in rows.values() for command in row["commands"]),
        "```",
        "",
        f"Machine: {env['platform']}, {env['cpu_count']} CPUs "
        f"({env.get('cpu_model', 'CPU model not recorded')}), devices: "
        f"{', '.join(d['name'] for d in env['cuda_devices']) or 'none (CPU)'}; "
        f"torch {env['packages']['torch']}, visim commit {env['git_commit']}.",
    ]
