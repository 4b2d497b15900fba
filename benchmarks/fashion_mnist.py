"""SimSiam against VI-SimSiam on Fashion-MNIST with the same budget, each against a random init.

Both methods pre-train with identical settings (only --method differs), then `visim eval`
measures kNN and linear-probe accuracy of the pre-trained and of a randomly initialised
backbone on the official test split. The wall time of every step is recorded.

    python benchmarks/fashion_mnist.py --epochs 4      (nox -s fashion_mnist runs this)

Writes benchmarks/fashion_mnist.json and benchmarks/fashion_mnist.md. Fashion-MNIST comes from
the Debian package dataset-fashion-mnist (the nox session installs it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from visim.train.environment import environment_report

DATA = Path("/usr/share/datasets/fashion-mnist")
METHODS = ("simsiam", "vi-simsiam")
RESULTS = Path(__file__).parent


def pretrain_command(args: argparse.Namespace, method: str, run_dir: Path) -> list[str]:
    return [
        *("visim", "pretrain", str(args.data), "--out", str(run_dir), "--method", method),
        *("--backend", args.backend, "--arch", args.arch, "--recipe", "cifar"),
        *("--size", str(args.size), "--epochs", str(args.epochs)),
        *("--batch-size", str(args.batch_size), "--lr", str(args.lr)),
        *("--workers", str(args.workers), "--seed", "0", "--quiet", "--log-every", "50"),
        *(["--cifar-stem"] if args.cifar_stem else []),
    ]


def eval_command(args: argparse.Namespace, run_dir: Path) -> list[str]:
    return [
        *("visim", "eval", str(run_dir), "--train", str(args.data), "--test", str(args.data)),
        *("--workers", str(args.workers), "--augmented-images", "2000"),
    ]


def timed(command: list[str]) -> float:
    """Run a visim command in this interpreter's environment; its wall time in seconds."""
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "visim", *command[1:]], check=True)
    return time.perf_counter() - start


def run_method(args: argparse.Namespace, method: str) -> dict:
    run_dir = args.out / method
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a benchmark measures a whole run, never a resumed one
    pretrain = pretrain_command(args, method, run_dir)
    evaluate = eval_command(args, run_dir)
    seconds = {"pretrain": timed(pretrain), "eval": timed(evaluate)}
    report = json.loads((run_dir / "eval" / "eval.json").read_text())
    kappa = report["kappa"]
    return {
        "commands": [" ".join(pretrain), " ".join(evaluate)],
        "seconds": seconds,
        "results": report["results"],
        "kappa": None
        if kappa is None
        else {
            "auroc_correct": kappa["vs_probe_correctness"]["auroc_correct"],
            "spearman_bins": kappa["vs_probe_correctness"]["spearman_bins"],
        },
    }


def percent(value: float) -> str:
    return f"{100 * value:.1f}"


def markdown(summary: dict) -> str:
    settings = summary["settings"]
    env = summary["environment"]
    lines = [
        "# SimSiam vs VI-SimSiam on Fashion-MNIST, same budget",
        "",
        f"{settings['arch']}{' (CIFAR stem)' if settings['cifar_stem'] else ''}, "
        f"{settings['size']} px, `cifar` recipe, {settings['epochs']} epochs of the 60,000 "
        f"training images, global batch {settings['batch_size']}, base LR {settings['lr']}, "
        f"backend {settings['backend']}. Accuracies (%) on the 10,000 test images; kNN with "
        "k=200, T=0.1 on the training set's features; linear probe on the same features.",
        "",
        "| method | weights | kNN top-1 | kNN top-5 | probe top-1 | probe top-5 | "
        "kappa AUROC (probe correct) | pretrain s | eval s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for method, run in summary["runs"].items():
        for weights in ("pretrained", "random_init"):
            result = run["results"][weights]
            kappa = run["kappa"] if weights == "pretrained" and run["kappa"] else None
            lines.append(
                f"| {method} | {weights} | {percent(result['knn']['top1'])} | "
                f"{percent(result['knn']['top5'])} | {percent(result['linear_probe']['top1'])} | "
                f"{percent(result['linear_probe']['top5'])} | "
                f"{'-' if kappa is None else format(kappa['auroc_correct'], '.3f')} | "
                f"{run['seconds']['pretrain']:.0f} | {run['seconds']['eval']:.0f} |"
            )
    lines += ["", "Commands:", "", "```"]
    lines += [command for run in summary["runs"].values() for command in run["commands"]]
    lines += [
        "```",
        "",
        f"Machine: {env['platform']}, {env['cpu_count']} CPUs, devices: "
        f"{', '.join(d['name'] for d in env['cuda_devices']) or 'none (CPU)'}; "
        f"torch {env['packages']['torch']}, visim commit {env['git_commit']}.",
        "",
        "Repeat: `nox -s fashion_mnist` (or `python benchmarks/fashion_mnist.py` with the same "
        "options).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/fashion-mnist"))
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--cifar-stem", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not (args.data / "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"{args.data}: no Fashion-MNIST here; apt-get install dataset-fashion-mnist")

    runs = {method: run_method(args, method) for method in METHODS}
    summary = {
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runs": runs,
        "environment": environment_report(),
    }
    (RESULTS / "fashion_mnist.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "fashion_mnist.md").write_text(markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    main()
