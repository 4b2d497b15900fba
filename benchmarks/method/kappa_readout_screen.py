"""How kappa is read out for a clean image, across data sets: the head on the centre crop,
the mean or median of the head over augmented views, or the views' own agreement (`fit`),
beside the label-free density scores of the same evaluation.

The readouts are `visim eval --kappa-readout` (docs/method.md section 5); the evaluation
records the metrics of every readout it drew (eval.json's kappa.by_readout), so one
`visim eval --kappa-readout fit` per run gives all four. No pre-training happens here: the
script evaluates the VI-SimSiam run directories `nox -s uncertainty_benchmark -- --split val`
left (validation variants only: no test image of any set is read), again, with `--views`
views per image, and replaces their eval/ (the benchmark's rows are recorded elsewhere).

`fit` with many views is the agreement kappa is trained to predict, measured on the image
itself rather than predicted by the head: how well it ranks images bounds what any head for
that target can reach, so a large `--views` asks whether the target, not the head, is what
keeps kappa below the density scores.

    python benchmarks/method/kappa_readout_screen.py --budgets short --seeds 0,1
    python benchmarks/method/kappa_readout_screen.py --budgets short,long --seeds 0,1 --views 32

writes kappa_readout_screen.json and .md beside this file (the Python of the benchmark's
virtualenv: .nox/uncertainty_benchmark/bin/python). Rows accumulate: a run measured again
replaces its row.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from method_runs import commands_and_machine, visim
from uncertainty_data import OOD_PARTNER, SETS, Sizes, set_file
from uncertainty_runs import BUDGETS, KNN_K, Run

from visim.core.atomic_write import write_text_atomically
from visim.evaluation.eval_report import read_eval_report
from visim.evaluation.eval_settings import KAPPA_READOUTS, EvalSettings
from visim.train.environment import environment_report

VIEWS = EvalSettings.kappa_views  # eval's --kappa-views default, read rather than restated
CONFIGURATION = "vi-simsiam"  # the defaults: the readout is eval's choice, not training's
BASELINES = ("knn_mean_cosine", "mahalanobis")
METRICS = {"r_auroc": "R-AUROC", "probe_auroc": "probe AUROC", "ood_auroc": "OOD AUROC"}
RESULTS = Path(__file__).with_name("kappa_readout_screen.json")
CACHE = Path(__file__).parents[1] / "data" / "uncertainty"


def measure(run: Run, views: int, out: Path, cache: Path, sizes: Sizes, workers: int) -> dict:
    """Evaluate one run with every readout over `views` views; its row."""
    run_dir = run.run_dir(out, sizes)
    if not (run_dir / "model.safetensors").is_file():
        raise SystemExit(f"{run_dir}: no trained model; run the uncertainty benchmark first")
    folder = sizes.folder(cache)
    data = str(set_file(folder, run.data_set, run.split))
    ood = str(set_file(folder, OOD_PARTNER[run.data_set], run.split))
    command = [
        *("eval", str(run_dir), "--train", data, "--train-split", "train"),
        *("--test", data, "--test-split", "test", "--ood", ood, "--ood-split", "test"),
        *("--knn-k", str(KNN_K), "--kappa-readout", "fit", "--kappa-views", str(views)),
        *("--augmented-images", "0", "--degraded-images", "0", "--grid-images", "0"),
        *("--workers", str(workers), "--no-plots"),
    ]
    visim(command)
    report = read_eval_report(run_dir / "eval" / "eval.json")
    assert report.kappa is not None and report.uncertainty is not None
    candidates = {f"kappa {name}": report.kappa.by_readout[name] for name in KAPPA_READOUTS}
    candidates |= {name: report.uncertainty.scores[name] for name in BASELINES}
    return {
        "set": run.data_set,
        "budget": run.budget,
        "seed": run.seed,
        "views": views,
        "metrics": {
            name: {metric: getattr(found, metric) for metric in METRICS}
            for name, found in candidates.items()
        },
        "commands": ["visim " + " ".join(command)],
    }


def markdown(rows: dict[str, dict], env: dict) -> str:
    sets = [name for name in SETS if any(row["set"] == name for row in rows.values())]
    lines = [
        "# How kappa is read out for a clean image, across data sets (validation runs)",
        "",
        "VI-SimSiam's defaults, the validation runs of the uncertainty benchmark, evaluated "
        "again with every readout: `center` (the head on the centre crop, eval's default), "
        "`mean` / `median` (the head over V augmented views of the training recipe), "
        "`fit` (no head: the concentration under which the V views' posteriors and "
        "targets agree as observed, i.e. the agreement kappa is trained to predict, measured). "
        "Beside them, the label-free density scores of the same evaluation. Uncertainties; "
        "each cell: the mean over the runs (sets, then seeds: every set weighs the same); "
        "per set: R-AUROC / probe AUROC.",
    ]
    groups = sorted(
        {(row["budget"], row["views"]) for row in rows.values()},
        key=lambda group: (list(BUDGETS).index(group[0]), group[1]),
    )
    for budget, views in groups:
        of_group = [r for r in rows.values() if (r["budget"], r["views"]) == (budget, views)]
        seeds = sorted({row["seed"] for row in of_group})
        lines += [
            "",
            f"## {BUDGETS[budget]} epochs, V = {views} views, seeds {', '.join(map(str, seeds))}",
            "",
        ]
        header = " | ".join([*METRICS.values(), *sets])
        lines += [f"| candidate | {header} |", "|---|" + "---:|" * (len(METRICS) + len(sets))]
        for name in of_group[0]["metrics"]:
            per_set = {
                data_set: [row["metrics"][name] for row in of_group if row["set"] == data_set]
                for data_set in sets
            }
            cells = [
                f"{np.mean([mean_of(metric, runs) for runs in per_set.values()]):.3f}"
                for metric in METRICS
            ]
            cells += [
                f"{mean_of('r_auroc', runs):.3f} / {mean_of('probe_auroc', runs):.3f}"
                for runs in per_set.values()
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Repeat: `python benchmarks/method/kappa_readout_screen.py --budgets short "
        "--seeds 0,1` and `... --budgets short,long --seeds 0,1 --views 32` (the runs of "
        "`nox -s uncertainty_benchmark -- --split val --configurations vi-simsiam` first).",
        "",
    ]
    lines += [*commands_and_machine(rows, env), ""]
    return "\n".join(lines)


def mean_of(metric: str, runs: list[dict]) -> float:
    """The mean of one metric over one set's runs."""
    return float(np.mean([found[metric] for found in runs]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--budgets", default="short", help=f"of {list(BUDGETS)}")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--views", type=int, default=VIEWS, help="augmented views per image")
    parser.add_argument("--train-images", type=int, default=1600)
    parser.add_argument("--eval-images", type=int, default=400)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=Path("runs/uncertainty-benchmark"))
    parser.add_argument("--report-only", action="store_true", help="only rebuild the markdown")
    args = parser.parse_args()
    sizes = Sizes(args.train_images, args.eval_images)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows, env = saved.get("rows", {}), saved.get("environment", {})
    if args.report_only:
        write_text_atomically(RESULTS.with_suffix(".md"), markdown(rows, env))
        return
    for data_set in args.sets.split(","):
        for budget in args.budgets.split(","):
            for seed in (int(text) for text in args.seeds.split(",")):
                run = Run("val", data_set, budget, seed, CONFIGURATION)
                key = f"{run.key}/views{args.views}"
                print(f"== {key}", flush=True)
                rows[key] = measure(run, args.views, args.out, args.cache, sizes, args.workers)
                env = environment_report()
                document = {"rows": rows, "environment": env}
                write_text_atomically(RESULTS, json.dumps(document, indent=2) + "\n")
    write_text_atomically(RESULTS.with_suffix(".md"), markdown(rows, env))


if __name__ == "__main__":
    main()
