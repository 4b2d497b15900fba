"""Record what `visim demo` prints and measures on this machine, from scratch.

Runs `visim demo --force --quiet` into a scratch directory (its own default configuration:
what a user gets), keeps its printed output, reads its eval.json, and writes
benchmarks/method/demo_record.json and demo_record.md: the accuracies, every uncertainty
score's metrics on the demo's test images, each step's time, the machine and the commit. The
README's demo figures come from here.

    python benchmarks/method/demo_record.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from method_runs import commands_and_machine, number, percent

from visim.core.atomic_write import write_text_atomically
from visim.evaluation.eval_report import json_ready, read_eval_report
from visim.train.environment import environment_report

RESULTS = Path(__file__).parent
STEM = "demo_record"
COMMAND = ["demo", "--force", "--quiet"]


def run_demo(out: Path) -> tuple[str, float]:
    """(what the demo printed, its wall time in seconds), from a fresh start in `out`."""
    command = [sys.executable, "-m", "visim", *COMMAND, "--out", str(out)]
    print("$ visim", " ".join(command[3:]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return done.stdout, time.perf_counter() - started


def record(out: Path) -> dict:
    printed, seconds = run_demo(out)
    report = read_eval_report(out / "run" / "eval" / "eval.json")
    return {
        "command": "visim " + " ".join(COMMAND),
        "wall_seconds": seconds,
        "environment": environment_report(),
        "results": json_ready(report.results),
        "uncertainty": json_ready(report.uncertainty),
        "kappa_spread": None if report.kappa is None else json_ready(report.kappa.spread),
        "printed": printed,
    }


def markdown(found: dict) -> str:
    env = found["environment"]
    results = found["results"]
    lines = [
        "# `visim demo`, as a user runs it",
        "",
        f"`{found['command']}` from scratch (data, pre-training, evaluation) took "
        f"{found['wall_seconds'] / 60:.1f} min on the machine below. Accuracies in % on the "
        "demo's 1,000 test images; uncertainty metrics as `visim eval` defines them "
        "(docs/evaluation.md).",
        "",
        "| weights | kNN top-1 | linear top-1 |",
        "|---|---:|---:|",
    ]
    for variant in ("pretrained", "random_init"):
        row = results[variant]
        lines.append(
            f"| {variant} | {percent(row['knn']['top1'])} | "
            f"{percent(row['linear_probe']['top1'])} |"
        )
    metrics = ("r_auroc", "probe_auroc", "cropped_higher", "blurred_higher")
    lines += [
        "",
        f"R@1 {percent(found['uncertainty']['r_at_1'])} %.",
        "",
        "| score | " + " | ".join(metrics) + " |",
        "|---|" + "---:|" * len(metrics),
    ]
    for name, scored in found["uncertainty"]["scores"].items():
        lines.append(f"| {name} | " + " | ".join(number(scored[m]) for m in metrics) + " |")
    spread = found["kappa_spread"]
    if spread is not None:
        lines += [
            "",
            f"kappa on the clean test images: median {spread['median']:.4g}, 5 %-95 % "
            f"{spread['q05']:.4g}-{spread['q95']:.4g} ({100 * spread['relative_range']:.0f} % "
            "of the median).",
        ]
    lines += ["", *commands_and_machine({"demo": {"commands": [found["command"]]}}, env), ""]
    lines += ["What it printed:", "", "```", found["printed"].rstrip(), "```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/demo-record"))
    args = parser.parse_args()
    found = record(args.out)
    write_text_atomically(RESULTS / f"{STEM}.json", json.dumps(found, indent=2) + "\n")
    write_text_atomically(RESULTS / f"{STEM}.md", markdown(found))
    print(f"wrote {RESULTS / STEM}.json and .md")


if __name__ == "__main__":
    main()
