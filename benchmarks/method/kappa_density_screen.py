"""Kappa beside, and combined with, the kNN density: screened on the uncertainty benchmark's
validation runs, with two other readings of the same agreement kappa is trained on.

The question: does kappa carry per-image information the feature density lacks, so that a
combination ranks images better than either alone? Or does a head fitted after pre-training
on each training image's agreement over several views (an image's property, not one
augmentation draw's) rank better than the trained head? Both are computed from the same
checkpoint, so no pre-training happens here: the script reads the feature caches `visim eval`
left in the run directories of `nox -s uncertainty_benchmark -- --split val` (the validation
variants: no test image of any set is read) and draws only the cropped and blurred versions
of the evaluation images, and the augmented views behind the agreement, again.

Each score is first put on the training images' scale, so that neither dominates by its
units: "z" subtracts the training images' mean and divides by their standard deviation;
"rank" replaces a value by the share of training images at or below it (the empirical CDF).
The training images' own density is leave-one-out. A candidate is w * kappa + (1 - w) *
density for w in WEIGHTS; w = 0 and 1 are the parts alone. Density is the kNN mean cosine
(k = 10), the better of the two kNN scores on every set of the test-split table.

A post-hoc head is fitted two ways on the same target (each training image's agreement over
VIEWS views): a ridge regression, and a linear head trained with a pairwise ranking loss, as
"Pretrained Visual Uncertainties" (Kirchhof et al., 2024) trains its detached head: only the
order of the images' agreements is asked for, not its scale.

    python benchmarks/method/kappa_density_screen.py --configurations vi-simsiam,vi-paper --seeds 0

writes kappa_density_screen.json and .md beside this file (the Python of the benchmark's
virtualenv: .nox/uncertainty_benchmark/bin/python). Rows accumulate: a run measured again
replaces its row, the others are kept, and the markdown has one table per budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from uncertainty_data import OOD_PARTNER, SETS, Sizes, set_file
from uncertainty_runs import BUDGETS, CONFIGURATIONS, KNN_K, Run

from visim.core.atomic_write import write_text_atomically
from visim.evaluation.classification import classify
from visim.evaluation.eval_settings import EvalSettings
from visim.evaluation.kappa_readout import KappaReader
from visim.evaluation.run_loading import open_run
from visim.evaluation.uncertainty_metrics import recall_at_one, score_metrics
from visim.evaluation.uncertainty_report import degraded_features, positions_of
from visim.evaluation.uncertainty_scores import kappa_uncertainty, knn_density
from visim.pipeline.sources.factory import open_split
from visim.train.environment import environment_report

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
VIEWS = 4  # augmented views per image behind the fit and the post-hoc head's target
RIDGE = 1e-3  # the post-hoc head's ridge penalty, per training image
RANKING_STEPS = 500  # full-batch Adam steps of the ranking head (its loss is flat by then)
RANKING_PAIRS = 20_000  # image pairs drawn per step
NORMALISATIONS = ("z", "rank")
SHOWN = ("r_auroc", "probe_auroc", "ood_auroc", "cropped_higher", "blurred_higher")
RESULTS = Path(__file__).with_name("kappa_density_screen.json")
CACHE = Path(__file__).parents[1] / "data" / "uncertainty"


def cached_features(run_dir: Path, data: Path, split: str) -> dict[str, torch.Tensor]:
    """The pretrained weights' cached features (with kappa) of `data`'s `split`."""
    pattern = f"pretrained-{data.name}-{split}-*.pt"
    found = sorted((run_dir / "eval" / "cache").glob(pattern))
    if len(found) != 1:
        raise SystemExit(f"{run_dir}: expected one cache file {pattern}, found {len(found)}")
    return torch.load(found[0], weights_only=False)["payload"]


def image_scores(train: torch.Tensor, role: dict[str, torch.Tensor], own: bool) -> dict:
    """kappa and density uncertainty of each image of `role` (own: the training images)."""
    return {
        "kappa": kappa_uncertainty(role["kappa"].numpy()),
        "density": knn_density(train, role["features"], leave_one_out=own)["knn_mean_cosine"],
    }


def normaliser(reference: np.ndarray, how: str):
    """A function putting values on `reference`'s scale (module docstring)."""
    if how == "z":
        mean, std = reference.mean(), reference.std()
        return lambda values: (values - mean) / std
    ordered = np.sort(reference)
    return lambda values: np.searchsorted(ordered, values, side="right") / len(ordered)


def combined(found: dict, scale: dict, weight: float) -> np.ndarray:
    """weight * kappa + (1 - weight) * density, each on the training images' scale."""
    return weight * scale["kappa"](found["kappa"]) + (1 - weight) * scale["density"](
        found["density"]
    )


def mean_of(rows: list[dict], candidate: str, metric: str) -> float | None:
    """The mean over `rows`; None where the candidate has no such metric (own views fit:
    degraded images have no views drawn)."""
    values = [row["metrics"][candidate][metric] for row in rows]
    return None if None in values else float(np.mean(values))


def cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def measure(run: Run, out: Path, cache: Path, sizes: Sizes) -> dict:
    """{candidate name: score_metrics as a dict} of one VI-SimSiam run."""
    run_dir = run.run_dir(out, sizes)
    data = set_file(sizes.folder(cache), run.data_set, run.split)
    ood_data = set_file(sizes.folder(cache), OOD_PARTNER[run.data_set], run.split)
    roles = {
        "train": cached_features(run_dir, data, "train"),
        "test": cached_features(run_dir, data, "test"),
        "ood": cached_features(run_dir, ood_data, "test"),
    }
    _, neighbour = recall_at_one(roles["test"]["features"], roles["test"]["labels"])
    defaults = EvalSettings(train="", test="")
    classes = int(roles["train"]["labels"].max()) + 1
    _, probe_correct, _ = classify(
        roles["train"], roles["test"], classes, knn_k=KNN_K,
        knn_temperature=defaults.knn_temperature,
        probe_weight_decay=defaults.probe_weight_decay,
        probe_max_iter=defaults.probe_max_iter, device=torch.device("cpu"),
    )  # fmt: skip
    evaluated = open_run(run_dir, None)
    degraded = degraded_features(
        evaluated, evaluated.pretrained_model(), open_split(str(data), "test", "test"),
        roles["test"], sizes.evaluation, batch_size=256, device=torch.device("cpu"),
        workers=1, log=print,
    )  # fmt: skip
    train = roles["train"]["features"]
    scores = {role: image_scores(train, found, role == "train") for role, found in roles.items()}
    changed = {kind: image_scores(train, found, False) for kind, found in degraded.items()}
    positions = {
        kind: positions_of(roles["test"]["indices"], found["indices"])
        for kind, found in degraded.items()
    }
    results = {}
    for how in NORMALISATIONS:
        scale = {part: normaliser(scores["train"][part], how) for part in ("kappa", "density")}
        for weight in WEIGHTS:
            if how == "rank" and weight in (0.0, 1.0):
                continue  # a monotone map of one part: the same metrics as under "z"
            test = combined(scores["test"], scale, weight)
            results[f"{how} w={weight}"] = score_metrics(
                test,
                neighbour,
                probe_correct.numpy(),
                combined(scores["ood"], scale, weight),
                {
                    kind: (test[positions[kind]], combined(changed[kind], scale, weight))
                    for kind in degraded
                },
            )
    model = evaluated.pretrained_model()
    sources = {
        "train": open_split(str(data), "train", "train"),
        "test": open_split(str(data), "test", "test"),
        "ood": open_split(str(ood_data), "test", "test"),
    }
    fits = {role: views_fit(evaluated, model, sources[role], roles[role]) for role in sources}
    agreement = kappa_uncertainty(fits["train"])
    heads = {
        "posthoc head": posthoc_head(roles["train"]["features"], agreement),
        "posthoc ranking head": ranking_head(roles["train"]["features"], agreement),
    }
    for name, head in heads.items():
        predicted = {role: head(found["features"]) for role, found in roles.items()}
        test = predicted["test"]
        changed_head = {kind: head(found["features"]) for kind, found in degraded.items()}
        results[name] = score_metrics(
            test, neighbour, probe_correct.numpy(), predicted["ood"],
            {kind: (test[positions[kind]], changed_head[kind]) for kind in degraded},
        )  # fmt: skip
    own = kappa_uncertainty(fits["test"])
    results["own views fit"] = score_metrics(
        own, neighbour, probe_correct.numpy(), kappa_uncertainty(fits["ood"])
    )
    return {name: dataclasses.asdict(metrics) for name, metrics in results.items()}


def views_fit(evaluated, model, source, found: dict[str, torch.Tensor]) -> np.ndarray:
    """The `fit` kappa of VIEWS augmented views of each image of `found` (its agreement)."""
    reader = KappaReader(evaluated, model, "fit", VIEWS, 256, 1, print)
    drawn = reader.views_of(source, VIEWS, found["indices"].tolist())
    assert torch.equal(drawn["indices"], found["indices"])
    return drawn["fit"].double().numpy()


def posthoc_head(features: torch.Tensor, target: np.ndarray):
    """A ridge regression of `target` (the training images' -log fit) on their clean,
    L2-normalised, detached features: a head fitted after pre-training on an image's
    agreement over many views rather than on one augmentation draw."""
    unit = torch.nn.functional.normalize(features.double(), dim=1).numpy()
    finite = np.isfinite(target)
    x, y = unit[finite], target[finite]
    mean_x, mean_y = x.mean(axis=0), y.mean()
    centred = x - mean_x
    gram = centred.T @ centred + RIDGE * len(x) * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, centred.T @ (y - mean_y))

    def predict(query: torch.Tensor) -> np.ndarray:
        unit_query = torch.nn.functional.normalize(query.double(), dim=1).numpy()
        return (unit_query - mean_x) @ weights + mean_y

    return predict


def ranking_head(features: torch.Tensor, target: np.ndarray):
    """A linear head on the same unit-length, detached features, trained so that of two
    training images the one with the higher `target` scores higher: the logistic loss of
    the score difference over random pairs (PVU's ranking objective)."""
    unit = torch.nn.functional.normalize(features.float(), dim=1)
    finite = torch.from_numpy(np.isfinite(target))
    x, y = unit[finite], torch.from_numpy(target[finite]).float()
    generator = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(x.shape[1], 1)
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-4)
    for _ in range(RANKING_STEPS):
        first, second = torch.randint(len(x), (2, RANKING_PAIRS), generator=generator)
        order = torch.sign(y[first] - y[second])
        scores = head(x).squeeze(1)  # every image once, then indexed: cheaper than per pair
        margin = scores[first] - scores[second]
        loss = torch.nn.functional.softplus(-order * margin)[order != 0].mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def predict(query: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            unit_query = torch.nn.functional.normalize(query.float(), dim=1)
            return head(unit_query).squeeze(1).double().numpy()

    return predict


def markdown(rows: dict[str, dict], commands: dict[str, str]) -> str:
    """Per configuration and candidate: the mean over its runs of each metric, then R-AUROC /
    probe AUROC per set."""
    sets = sorted({row["set"] for row in rows.values()}, key=SETS.index)
    lines = [
        "# Kappa beside the kNN density: combined, refitted, read from views (validation "
        "runs of the uncertainty benchmark)",
        "",
        "Candidate `NORM w=W`: W * kappa + (1 - W) * kNN mean cosine (k = 10), each put on the "
        "training images' scale by NORM (z: mean and standard deviation; rank: empirical CDF); "
        "`z w=0.0` is the density alone, `z w=1.0` kappa alone. `posthoc head`: a ridge "
        f"regression, fitted after pre-training on the training images' clean detached "
        f"features, of each image's agreement over {VIEWS} augmented views (-log of the `fit` "
        "kappa), read on clean features. `own views fit`: that agreement measured on the "
        "evaluated image's own views (no head; no degraded images). `posthoc ranking head`: "
        "a linear head on the same features and target trained with a pairwise ranking loss "
        "(added after the short-budget rows were measured). Uncertainties: higher = less "
        f"certain. Runs: {', '.join(sorted(rows))}. Each cell: the mean over the "
        "configuration's runs; per set: R-AUROC / probe AUROC.",
    ]
    for budget in sorted({row["budget"] for row in rows.values()}, key=list(BUDGETS).index):
        lines += ["", f"## {BUDGETS[budget]} epochs ({budget} budget)", ""]
        lines += budget_table([row for row in rows.values() if row["budget"] == budget], sets)
    env = environment_report()
    lines += [
        "",
        f"Machine: {env.get('cpu_model', 'not recorded')}; visim commit {env['git_commit']}.",
        "",
        "Commands:",
        "",
        "```",
        *(commands[budget] for budget in sorted(commands)),
        "```",
        "",
    ]
    return "\n".join(lines)


def budget_table(rows: list[dict], sets: list[str]) -> list[str]:
    """One budget's rows: per configuration and candidate, the mean over its runs."""
    lines = [
        "| configuration | candidate | " + " | ".join(SHOWN) + " | " + " | ".join(sets) + " |",
        "|---|---|" + "---:|" * (len(SHOWN) + len(sets)),
    ]
    for configuration in sorted({row["configuration"] for row in rows}):
        runs = [row for row in rows if row["configuration"] == configuration]
        for name in runs[0]["metrics"]:
            cells = [cell(mean_of(runs, name, metric)) for metric in SHOWN]
            for data_set in sets:
                of_set = [row for row in runs if row["set"] == data_set]
                r, probe = (mean_of(of_set, name, metric) for metric in ("r_auroc", "probe_auroc"))
                cells.append(f"{cell(r)} / {cell(probe)}")
            lines.append(f"| {configuration} | {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--budgets", default="short", help=f"of {list(BUDGETS)}")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--configurations", default="vi-simsiam,vi-paper")
    parser.add_argument("--train-images", type=int, default=1600)
    parser.add_argument("--eval-images", type=int, default=400)
    parser.add_argument(
        "--cache", type=Path, default=Path(__file__).parents[1] / "data" / "uncertainty"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/uncertainty-benchmark"))
    args = parser.parse_args()
    sizes = Sizes(args.train_images, args.eval_images)
    configurations = args.configurations.split(",")
    if "simsiam" in configurations or not set(configurations) <= set(CONFIGURATIONS):
        parser.error(f"--configurations: VI-SimSiam ones of {list(CONFIGURATIONS)}")
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rows, commands = saved.get("rows", {}), saved.get("commands", {})
    for data_set in args.sets.split(","):
        for budget in args.budgets.split(","):
            for seed in (int(text) for text in args.seeds.split(",")):
                for configuration in configurations:
                    run = Run("val", data_set, budget, seed, configuration)
                    print(f"== {run.key}", flush=True)
                    rows[run.key] = {
                        "set": data_set, "budget": budget, "seed": seed,
                        "configuration": configuration,
                        "metrics": measure(run, args.out, args.cache, sizes),
                    }  # fmt: skip
    command = "python benchmarks/method/kappa_density_screen.py " + " ".join(
        f"--{name.replace('_', '-')} {value}"
        for name, value in vars(args).items()
        if name in ("sets", "budgets", "seeds", "configurations")
    )
    commands[args.budgets] = command
    saved = {"rows": rows, "commands": commands}
    write_text_atomically(RESULTS, json.dumps(saved, indent=2) + "\n")
    text = markdown(rows, commands)
    write_text_atomically(RESULTS.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
