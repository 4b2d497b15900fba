"""How kappa is read out for a clean image, across data sets: the head on the centre crop,
the mean or median of the head over augmented views, or the views' own agreement (`fit`),
beside the label-free density scores of the same evaluation.

The readouts are `visim eval --kappa-readout` (docs/method.md section 5); the evaluation
records the metrics of every readout it drew (eval.json's kappa.by_readout), so one
`visim eval --kappa-readout fit` per run gives all four. No pre-training happens here: the
script evaluates the VI-SimSiam run directories `nox -s uncertainty_benchmark -- --split val`
left (validation variants only: no test image of any set is read), again, with VIEWS views
per image, and replaces their eval/ (the benchmark's rows are recorded elsewhere).

    python benchmarks/method/kappa_readout_screen.py --budgets short --seeds 0,1

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
from visim.evaluation.eval_settings import KAPPA_READOUTS
from visim.train.environment import environment_report

VIEWS = 8
CONFIGURATION = "vi-simsiam"  # the defaults: the readout is eval's choice, not training's
BASELINES = ("knn_mean_cosine", "mahalanobis")
METRICS = {"r_auroc": "R-AUROC", "probe_auroc": "probe AUROC", "ood_auroc": "OOD AUROC"}
RESULTS = Path(__file__).with_name("kappa_readout_screen.json")
CACHE = Path(__file__).parents[1] / "data" / "uncertainty"


def measure(run: Run, out: Path, cache: Path, sizes: Sizes, workers: int) -> dict:
    """Evaluate one run with every readout; its row: {candidate: {metric: value}}."""
    run_dir = run.run_dir(out, sizes)
    if not (run_dir / "model.safetensors").is_file():
        raise SystemExit(f"{run_dir}: no trained model; run the uncertainty benchmark first")
    folder = sizes.folder(cache)
    data = str(set_file(folder, run.data_set, run.split))
    ood = str(set_file(folder, OOD_PARTNER[run.data_set], run.split))
    command = [
        *("eval", str(run_dir), "--train", data, "--train-split", "train"),
        *("--test", data, "--test-split", "test", "--ood", ood, "--ood-split", "test"),
        *("--knn-k", str(KNN_K), "--kappa-readout", "fit", "--kappa-views", str(VIEWS)),
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
        f"VI-SimSiam's defaults, the validation runs of the uncertainty benchmark, evaluated "
        f"again with every readout: `center` (the head on the centre crop, eval's default), "
        f"`mean` / `median` (the head over {VIEWS} augmented views of the training recipe), "
        f"`fit` (no head: the concentration under which the {VIEWS} views' posteriors and "
        "targets agree as observed). Beside them, the label-free density scores of the same "
        "evaluation. Uncertainties; each cell: the mean over the runs (sets, then seeds: every "
        "set weighs the same); per set: R-AUROC / probe AUROC.",
    ]
    for budget in [name for name in BUDGETS if any(r["budget"] == name for r in rows.values())]:
        of_budget = [row for row in rows.values() if row["budget"] == budget]
        seeds = sorted({row["seed"] for row in of_budget})
        lines += ["", f"## {BUDGETS[budget]} epochs, seeds {', '.join(map(str, seeds))}", ""]
        header = " | ".join([*METRICS.values(), *sets])
        lines += [f"| candidate | {header} |", "|---|" + "---:|" * (len(METRICS) + len(sets))]
        for name in of_budget[0]["metrics"]:
            per_set = {
                data_set: [row["metrics"][name] for row in of_budget if row["set"] == data_set]
                for data_set in sets
            }

            def mean(metric: str, runs: list[dict]) -> float:
                return float(np.mean([found[metric] for found in runs]))

            cells = [
                f"{np.mean([mean(metric, runs) for runs in per_set.values()]):.3f}"
                for metric in METRICS
            ]
            cells += [
                f"{mean('r_auroc', runs):.3f} / {mean('probe_auroc', runs):.3f}"
                for runs in per_set.values()
            ]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Repeat: `python benchmarks/method/kappa_readout_screen.py --budgets short "
        "--seeds 0,1` (the runs of `nox -s uncertainty_benchmark -- --split val "
        "--budgets short --seeds 0,1 --configurations vi-simsiam` first).",
        "",
    ]
    lines += [*commands_and_machine(rows, env), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--budgets", default="short", help=f"of {list(BUDGETS)}")
    parser.add_argument("--seeds", default="0,1")
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
                print(f"== {run.key}", flush=True)
                rows[run.key] = measure(run, args.out, args.cache, sizes, args.workers)
                env = environment_report()
                document = {"rows": rows, "environment": env}
                write_text_atomically(RESULTS, json.dumps(document, indent=2) + "\n")
    write_text_atomically(RESULTS.with_suffix(".md"), markdown(rows, env))


if __name__ == "__main__":
    main()
