"""SimSiam against VI-SimSiam on Fashion-MNIST with the same budget, on the official test split.

Every configuration named by --configurations (method_runs.CONFIGURATIONS) pre-trains with
identical settings, then `visim eval` measures kNN and linear-probe accuracy of the
pre-trained and of a randomly initialised backbone on the 10,000 test images, kappa's AUROCs
(probe correct; in- vs out-of-distribution against the demo set) for every readout, clean vs
augmented kappa, and the uncertainty baselines. The configurations were chosen beforehand on
a validation split (kappa_screen.py); this run confirms them at the full budget.

    python benchmarks/method/fashion_mnist.py --epochs 2      (nox -s fashion_mnist runs this)

Writes benchmarks/method/fashion_mnist.json and benchmarks/method/fashion_mnist.md.
Fashion-MNIST comes from the Debian package dataset-fashion-mnist (the nox session installs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from method_runs import (
    CONFIGURATIONS,
    chosen,
    commands_and_machine,
    markdown_table,
    percent,
    run_configuration,
)

from visim.train.environment import environment_report

DATA = Path("/usr/share/datasets/fashion-mnist")
# SimSiam, VI-SimSiam's defaults spelled out, and the paper's objective.
DEFAULT_CONFIGURATIONS = "simsiam,vi-relative-moment-support,vi-nll"
RESULTS = Path(__file__).parent


def base_options(args: argparse.Namespace) -> list[str]:
    return [
        *("--backend", args.backend, "--arch", args.arch, "--recipe", "cifar"),
        *("--size", str(args.size), "--epochs", str(args.epochs)),
        *("--batch-size", str(args.batch_size), "--lr", str(args.lr)),
        *("--workers", str(args.workers), "--seed", "0", "--quiet", "--log-every", "50"),
        *(["--cifar-stem"] if args.cifar_stem else []),
    ]


def markdown(summary: dict) -> str:
    settings = summary["settings"]
    env = summary["environment"]
    random_init = next(iter(summary["runs"].values()))["results"]["random_init"]
    lines = [
        "# SimSiam vs VI-SimSiam on Fashion-MNIST, same budget",
        "",
        f"{settings['arch']}{' (CIFAR stem)' if settings['cifar_stem'] else ''}, "
        f"{settings['size']} px, `cifar` recipe, {settings['epochs']} epochs of the 60,000 "
        f"training images, global batch {settings['batch_size']}, base LR {settings['lr']}, "
        f"backend {settings['backend']}. Accuracies (%) on the 10,000 test images; kNN with "
        "k=200, T=0.1 on the training set's features; linear probe on the same features. "
        "Kappa AUROCs: predicting a right probe answer, and telling the test images from the "
        "demo set's 1,000 coloured shapes (OOD); kappa read from the centre crop, the mean "
        "and the median of the head's kappa over 8 augmented views, and the fit to those "
        "views (docs/method.md section 5; a row with three values predates the fit readout). "
        "Median kappa augmented: over the 8 views of 2,000 test images.",
        "",
        *markdown_table(summary["runs"]),
        "",
        f"A randomly initialised backbone (same seed, same eval): kNN "
        f"{percent(random_init['knn']['top1'])}, "
        f"probe {percent(random_init['linear_probe']['top1'])}.",
        "",
        *commands_and_machine(summary["runs"], env),
        "",
        "Repeat: `nox -s fashion_mnist` (or `python benchmarks/method/fashion_mnist.py` with "
        "the same options).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/fashion-mnist"))
    parser.add_argument("--configurations", default=DEFAULT_CONFIGURATIONS)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--cifar-stem", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    if not (args.data / "train-images-idx3-ubyte.gz").is_file():
        sys.exit(f"{args.data}: no Fashion-MNIST here; apt-get install dataset-fashion-mnist")
    names = chosen(parser, args.configurations, CONFIGURATIONS)

    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    # What a row's numbers depend on: which rows run, and where their runs are kept, do not.
    for free in ("configurations", "out"):
        settings.pop(free)
    summary = {"settings": settings, "runs": {}}
    results_file = RESULTS / "fashion_mnist.json"
    if results_file.exists():  # runs with the same settings accumulate; a rerun replaces its row
        recorded = json.loads(results_file.read_text())
        if recorded.get("settings") == settings:
            summary["runs"] = recorded["runs"]
    for name in names:  # the record is rewritten after each run: a crash loses one run only
        summary["runs"][name] = run_configuration(
            name,
            base_options(args),
            str(args.data),
            str(args.data),
            "test",
            args.out / name,
            args.workers,
        )
        summary["environment"] = environment_report()
        results_file.write_text(json.dumps(summary, indent=2) + "\n")
        (RESULTS / "fashion_mnist.md").write_text(markdown(summary))
    print(markdown(summary))


if __name__ == "__main__":
    main()
