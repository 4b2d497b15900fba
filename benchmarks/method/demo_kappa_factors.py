"""What kappa follows on the demo set: a post-hoc analysis of demo-screen runs
(demo_screen.py), on the same validation draw (demo:4000:1), never the demo's test split.

Every demo image is drawn from known factors besides its class (demo_shapes.DemoFactors:
light or dark background, texture, the shape's size, pixel noise; the class fixes solid or
outline). For each run this script reads the centre-crop kappa of the validation images,
fits the linear probe on the training images (demo:4000:0) as `visim eval` does, and reports

- how each factor ranks with kappa (Spearman's rho), and
- how well each factor, and kappa, predict a right probe answer (AUROC),

so that one can see whether kappa tracks what makes an image hard to classify or something
else.

    python benchmarks/method/demo_kappa_factors.py \
        runs/demo-screen/nll-moment-support-16ep-clip25/run

Writes benchmarks/method/demo_kappa_factors.md (and .json); a run analysed again replaces its row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from method_runs import commands_and_machine

from visim.evaluation.features import source_features
from visim.evaluation.linear_probe import fit_linear_probe
from visim.evaluation.ranking_metrics import auroc, spearman
from visim.evaluation.run_loading import open_run
from visim.pipeline.sources.demo import DemoSource, open_demo
from visim.pipeline.sources.demo_shapes import STYLES, TEXTURES
from visim.train.environment import environment_report

RESULTS = Path(__file__).parent
TRAIN = "demo:4000:0"
VALIDATION = "demo:4000:1"
BATCH = 256


def factor_columns(source: DemoSource, indices: np.ndarray) -> dict[str, np.ndarray]:
    """Each factor as a number per image of `indices`, higher = more of the named property."""
    drawn = [source.factors(int(i)) for i in indices]
    labels = source.labels[indices]
    columns = {
        "light background": np.array([f.light_background for f in drawn], float),
        "outline style": (labels % len(STYLES) == STYLES.index("outline")).astype(float),
        "shape radius": np.array([f.radius for f in drawn]),
        "pixel noise": np.array([f.noise for f in drawn]),
    }
    textures = np.array([f.texture for f in drawn])
    for texture in TEXTURES:
        columns[f"texture {texture}"] = (textures == texture).astype(float)
    return columns


def analyse(run_path: Path, workers: int) -> dict:
    run = open_run(run_path)
    model = run.pretrained.eval()

    def features(source):
        return source_features(
            run, model, source, batch_size=BATCH, device=torch.device("cpu"),
            workers=workers, with_kappa=True,
        )  # fmt: skip

    train_source, validation = open_demo(TRAIN, "train"), open_demo(VALIDATION, "test")
    train, held = features(train_source), features(validation)
    probe = fit_linear_probe(train["features"], train["labels"], len(train_source.classes))
    right = (probe.scores(held["features"]).argmax(1) == held["labels"]).numpy()
    kappa = held["kappa"].numpy()
    factors = factor_columns(validation, held["indices"].numpy())
    return {
        "run": str(run_path),
        "commands": [f"python benchmarks/method/demo_kappa_factors.py {run_path}"],
        "probe_accuracy": float(right.mean()),
        "kappa_auroc_right": auroc(kappa, right),
        "median_kappa": float(np.median(kappa)),
        "factors": {
            name: {
                "spearman_with_kappa": spearman(values, kappa),
                "auroc_right": auroc(values, right),
            }
            for name, values in factors.items()
        },
    }


def markdown(report: dict) -> str:
    rows = report["runs"]
    names = list(next(iter(rows.values()))["factors"])
    header = "| run | probe top-1 | kappa AUROC right answer | " + " | ".join(names) + " |"
    lines = [
        "# What kappa follows on the demo set",
        "",
        f"Centre-crop kappa of the validation images ({VALIDATION}, test split), a linear probe "
        f"fitted on {TRAIN} (train split). Each factor is what the demo set drew for an image "
        "besides its class (visim/pipeline/sources/demo_shapes.py); outline style is fixed by "
        "the class, the texture columns are 1 for that texture, else 0.",
        "",
        "Spearman's rho of each factor with kappa (what kappa follows):",
        "",
        header,
        "|---|---:|---:|" + "---:|" * len(names),
    ]
    for name, row in rows.items():
        cells = " | ".join(f"{row['factors'][n]['spearman_with_kappa']:+.2f}" for n in names)
        lines.append(
            f"| {name} | {100 * row['probe_accuracy']:.1f} | {row['kappa_auroc_right']:.3f} | "
            f"{cells} |"
        )
    lines += [
        "",
        "AUROC of each factor predicting a right probe answer (what makes an image easy; "
        "0.5 = no information, below 0.5 = the factor marks wrong answers):",
        "",
        "| run | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for name, row in rows.items():
        cells = " | ".join(f"{row['factors'][n]['auroc_right']:.3f}" for n in names)
        lines.append(f"| {name} | {cells} |")
    lines += ["", *commands_and_machine(rows, report["environment"]), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run directories of demo_screen.py")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    results = RESULTS / "demo_kappa_factors.json"
    report = json.loads(results.read_text()) if results.exists() else {"runs": {}}
    for path in args.runs:
        # Screen runs live at runs/demo-screen/NAME/run: the configuration names the row.
        report["runs"][path.parent.name] = analyse(path, args.workers)
    report["environment"] = environment_report()
    results.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "demo_kappa_factors.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
