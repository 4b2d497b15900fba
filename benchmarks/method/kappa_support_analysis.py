"""How a support factor would change kappa: a post-hoc screen on one trained VI-SimSiam run of
the validation screen (kappa_screen.py), to choose the factor's form before training with it.

The moment head predicts E[log(1 + c)] for an image; kappa grows with it. On an image unlike
the training images the head extrapolates (kappa_ood_analysis.py). The support factor
s(x) = exp(sharpness * (mean cosine of x's backbone features to its k nearest in a bank of
training views - 1)) is 1 on the training views and falls towards 0 away from them; the
supported moment s(x) * m(x) then falls to the uniform prior's (0). Here the bank is one
augmented view of `--bank` training images, as the FIFO bank of recent training views would
be at the end of pre-training; the head is the run's own, unchanged (in training with the
factor it would fit m / s on the training views instead).

Scored on centre crops: in = the 10,000 validation images, out = the demo set's 1,000 test
images; right answer = the linear probe (fitted on the training images' centre crops) is right
on the validation image.

    python benchmarks/method/kappa_support_analysis.py runs/kappa-screen/vi-relative-moment-backbone

Writes benchmarks/method/kappa_support_analysis.md (and .json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from visim.evaluation.classification import nearest_neighbours
from visim.evaluation.kappa_analysis import ood_auroc
from visim.evaluation.linear_probe import fit_linear_probe
from visim.evaluation.ranking_metrics import auroc
from visim.evaluation.run_loading import open_run
from visim.pipeline.backends.eval_loader import augmented_batches, clean_batches
from visim.pipeline.sources.factory import open_source
from visim.train.environment import environment_report


def mean_neighbour_similarity(bank: torch.Tensor, query: torch.Tensor, k: int) -> torch.Tensor:
    """Mean cosine of each query to its k most similar bank features (float32 [N])."""
    return torch.cat(
        [similarity.mean(dim=1) for similarity, _ in nearest_neighbours(bank, query, k)]
    )


RESULTS = Path(__file__).parent
DATA = Path("runs/kappa-screen/data")
OOD = "demo:4000:0"
BANK_SIZES = (4096, 8192, 16384)
NEIGHBOURS = (1, 10)
SHARPNESSES = (5.0, 10.0, 20.0, 40.0, 80.0)
REFERENCE_VIEWS = 2048


@torch.no_grad()
def features_and_moment(model, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(backbone features [B, C], the head's moment [B]) of a batch of images."""
    features = model.encode(images)
    z = model.projector(features)
    _, hidden = model.predictor.forward_with_hidden(z)
    source = {"backbone": features, "predictor-hidden": hidden, "projector": z}[
        model.config.kappa_source
    ]
    head = model.kappa_head
    moment = F.linear(F.normalize(source.float(), dim=-1), head.linear.weight, head.linear.bias)
    return features.float(), moment.squeeze(-1)


def centre(model, source, recipe, workers: int):
    rows = [features_and_moment(model, images) for images, _, _ in
            clean_batches(source, recipe, 256, "cpu", workers)]  # fmt: skip
    return torch.cat([r[0] for r in rows]), torch.cat([r[1] for r in rows])


def training_views(model, source, recipe, indices, workers: int) -> torch.Tensor:
    """Backbone features of one augmented view of each training image of `indices`."""
    rows = [
        features_and_moment(model, views.flatten(0, 1))[0]
        for views, _, _ in augmented_batches(
            source, recipe, 1, 0, 256, "cpu", workers, np.sort(indices).tolist()
        )
    ]
    return torch.cat(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run = open_run(args.run)
    model, recipe = run.pretrained.eval(), run.config.recipe
    train_source = open_source(str(DATA / "fit-20000.npz"), "train")
    val_source = open_source(str(DATA / "val.npz"), "train")
    train_x, _ = centre(model, train_source, recipe, args.workers)
    val_x, val_m = centre(model, val_source, recipe, args.workers)
    ood_x, ood_m = centre(model, open_source(OOD, "test"), recipe, args.workers)
    order = np.random.default_rng(0).permutation(len(train_source))
    bank = training_views(model, train_source, recipe, order[: max(BANK_SIZES)], args.workers)
    # Views of other training images: how near the bank a training view usually lies.
    held = training_views(model, train_source, recipe, order[-REFERENCE_VIEWS:], args.workers)
    probe = fit_linear_probe(
        train_x, torch.as_tensor(train_source.labels), len(train_source.classes)
    )
    right = (probe.scores(val_x).argmax(1) == torch.as_tensor(val_source.labels)).numpy()

    def row(name: str, in_score: torch.Tensor, out_score: torch.Tensor) -> dict:
        return {
            "score": name,
            "auroc_right": auroc(in_score.numpy(), right),
            "ood_auroc": ood_auroc(in_score.numpy(), out_score.numpy()),
        }

    rows = [row("head moment m (as trained)", val_m, ood_m)]
    for size in BANK_SIZES:
        for k in NEIGHBOURS:
            cos_in = mean_neighbour_similarity(bank[:size], val_x, k)
            cos_out = mean_neighbour_similarity(bank[:size], ood_x, k)
            rows.append(row(f"bank {size}: cosine, k={k}", cos_in, cos_out))
            # reference 1: s < 1 everywhere; the median: s = 1 down to a typical training
            # view's cosine (what FeatureSupport does).
            references = {
                "1": torch.tensor(1.0),
                "median": mean_neighbour_similarity(bank[:size], held, k).median(),
            }
            for label, reference in references.items():
                for sharpness in SHARPNESSES:
                    s_in = torch.exp(sharpness * (cos_in - reference).clamp(max=0))
                    s_out = torch.exp(sharpness * (cos_out - reference).clamp(max=0))
                    name = f"bank {size}: s * m, k={k}, reference {label}, sharpness {sharpness:g}"
                    rows.append(row(name, s_in * val_m, s_out * ood_m))
    report = {
        "run": str(args.run),
        "bank": len(bank),
        "probe_accuracy": float(right.mean()),
        "rows": rows,
        "environment": environment_report(),
    }
    (RESULTS / "kappa_support_analysis.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "kappa_support_analysis.md").write_text(markdown(report))
    print(markdown(report))


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# A support factor for kappa, screened post hoc",
        "",
        f"Run: `{report['run']}`. Bank: one augmented view each of the first N of a random "
        f"draw of {report['bank']:,} training images. In = the 10,000 validation images, "
        "out = the demo set's 1,000 test images; "
        f"the probe is right on {100 * report['probe_accuracy']:.1f} % of the validation "
        "images. Every score is higher = more confident; kappa is increasing in the moment, "
        "so s * m ranks images as the supported kappa would.",
        "",
        "| score | AUROC right answer | OOD AUROC |",
        "|---|---:|---:|",
        *(
            f"| {r['score']} | {r['auroc_right']:.3f} | {r['ood_auroc']:.3f} |"
            for r in report["rows"]
        ),  # fmt: skip
        "",
        f"Command: `python benchmarks/method/kappa_support_analysis.py {report['run']}`",
        "",
        f"Machine: {env['platform']}, {env['cpu_count']} CPUs "
        f"({env.get('cpu_model', 'CPU model not recorded')}); torch {env['packages']['torch']}, "
        f"visim commit {env['git_commit']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
