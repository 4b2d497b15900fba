"""Why a kappa head tells in- from out-of-distribution images poorly: a post-hoc analysis of
one trained VI-SimSiam run of the validation screen (kappa_screen.py).

The moment head (docs/method.md section 2.2) is a linear regression of log(1 + c), the
alignment of a view's posterior with the other view's target, on the head's input. This
script refits that regression by least squares on augmented view pairs of training images,
for each input the head can read and several ways of feeding it, and scores the centre crops
of the validation images (in) and of the demo set (out):

- the regression's prediction (what the head learns): can any input or scaling separate them?
- its epistemic variance s2(x) = sigma^2 a(x)^T (A^T A + lambda n I)^-1 a(x) (Bayesian linear
  regression): large where the training inputs leave a direction unexplored;
- the posterior mean of the moment with a prior centred on the uniform's (0) whose variance is
  the spread of the fitted moments, tau^2: m tau^2 / (tau^2 + s2), the prediction shrunk
  towards "uncertain" by exactly as much as the data leave it unsure.

    python benchmarks/method/kappa_ood_analysis.py runs/kappa-screen/vi-relative-moment-backbone

Writes benchmarks/method/kappa_ood_analysis.md (and .json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from visim.evaluation.kappa_analysis import ood_auroc
from visim.evaluation.run_loading import open_run
from visim.pipeline.backends.eval_loader import augmented_batches, clean_batches
from visim.pipeline.sources.factory import open_source
from visim.train.environment import environment_report

RESULTS = Path(__file__).parent
DATA = Path("runs/kappa-screen/data")
OOD = "demo:4000:0"
RIDGE = 1e-3  # lambda, relative to the number of pairs
INPUTS = ("backbone", "predictor-hidden", "projector")


@torch.no_grad()
def head_inputs(model, images: torch.Tensor):
    """({input name: [B, width]}, mu [B, D], target [B, D]) of a batch of views."""
    features = model.encode(images)
    z = model.projector(features)
    p, hidden = model.predictor.forward_with_hidden(z)
    inputs = {"backbone": features, "predictor-hidden": hidden, "projector": z}
    return (
        {k: v.double() for k, v in inputs.items()},
        F.normalize(p, dim=-1),
        F.normalize(z, dim=-1),
    )


def training_pairs(model, recipe, every: int, workers: int):
    """Head inputs of 2 augmented views of every `every`-th training image, and each view's
    observed log(1 + c) against the other view's target."""
    source = open_source(str(DATA / "fit-20000.npz"), "train")
    indices = list(range(0, len(source), every))
    inputs: dict[str, list] = {name: [] for name in INPUTS}
    moments = []
    for views, _, _ in augmented_batches(source, recipe, 2, 0, 128, "cpu", workers, indices):
        b = views.shape[0]
        batch, mu, target = head_inputs(model, views.flatten(0, 1))
        mu, target = mu.view(b, 2, -1), target.view(b, 2, -1)
        cosines = torch.stack(
            [(mu[:, 0] * target[:, 1]).sum(-1), (mu[:, 1] * target[:, 0]).sum(-1)]
        )
        moments.append(torch.log1p(cosines.T.flatten().clamp(min=-1 + 1e-6)).double())
        for name in INPUTS:
            inputs[name].append(batch[name])
    return {k: torch.cat(v) for k, v in inputs.items()}, torch.cat(moments)


def centre_inputs(model, source, recipe, workers: int):
    inputs: dict[str, list] = {name: [] for name in INPUTS}
    for images, _, _ in clean_batches(source, recipe, 256, "cpu", workers):
        batch, _, _ = head_inputs(model, images)
        for name in INPUTS:
            inputs[name].append(batch[name])
    return {k: torch.cat(v) for k, v in inputs.items()}


DESIGNS = {
    # what the moment head does: unit-length input and a bias
    "unit + bias": lambda x, scale: torch.cat(
        [F.normalize(x, dim=1), torch.ones_like(x[:, :1])], 1
    ),
    # the input's norm kept (divided by the training mean norm), no bias: kappa falls to the
    # uniform's as the input's activation fades
    "scaled, no bias": lambda x, scale: x / scale,
    "scaled + bias": lambda x, scale: torch.cat([x / scale, torch.ones_like(x[:, :1])], 1),
}


def fit(a: torch.Tensor, moments: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights, precision A^T A + lambda n I) of the ridge regression of moments on a."""
    n, width = a.shape
    precision = a.T @ a + RIDGE * n * torch.eye(width, dtype=a.dtype)
    return torch.linalg.solve(precision, a.T @ moments), precision


def bayesian_reading(a_train, moments, a_in, a_out) -> dict:
    """The regression as Bayesian linear regression: epistemic variance of the prediction,
    and the prediction shrunk towards the uniform's moment (0) by it."""
    weights, precision = fit(a_train, moments)
    fitted = a_train @ weights
    sigma2, tau2 = (fitted - moments).var(), fitted.var()
    covariance = torch.linalg.inv(precision)
    variance = {
        k: sigma2 * ((a @ covariance) * a).sum(1) for k, a in (("in", a_in), ("out", a_out))
    }
    shrunk = {
        k: (a @ weights) * tau2 / (tau2 + variance[k]) for k, a in (("in", a_in), ("out", a_out))
    }
    return {
        "epistemic_variance_median": {k: float(v.median()) for k, v in variance.items()},
        "tau2": float(tau2),
        "ood_auroc_of_minus_variance": ood_auroc(-variance["in"].numpy(), -variance["out"].numpy()),
        "ood_auroc_shrunk": ood_auroc(shrunk["in"].numpy(), shrunk["out"].numpy()),
    }


def analyse(train_x, moments, val_x, ood_x) -> dict:
    scale = train_x.norm(dim=1).mean()
    row: dict = {
        "mean_norm": {
            "train_views": float(scale),
            "in": float(val_x.norm(dim=1).mean()),
            "out": float(ood_x.norm(dim=1).mean()),
        }
    }
    for name, design in DESIGNS.items():
        a = design(train_x, scale)
        weights, _ = fit(a, moments)
        row[name] = {
            "r2": float(1 - ((a @ weights - moments) ** 2).mean() / moments.var()),
            "ood_auroc": ood_auroc((design(val_x, scale) @ weights).numpy(),
                                   (design(ood_x, scale) @ weights).numpy()),
        }  # fmt: skip
    unit = DESIGNS["unit + bias"]
    row["bayesian"] = bayesian_reading(
        unit(train_x, scale), moments, unit(val_x, scale), unit(ood_x, scale)
    )
    return row


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# Why kappa tells in- from out-of-distribution images poorly",
        "",
        f"Run: `{report['run']}` (its kappa head and encoder as trained). The moment head's "
        "regression of log(1 + c) refitted by least squares (ridge "
        f"{RIDGE} x pairs) on 2 augmented views of {report['training_images']:,} training "
        "images, then scored on centre crops: in = the 10,000 validation images, out = the demo "
        "set's 1,000 test images. AUROC of the predicted moment (higher = in).",
        "",
        "| head input | mean norm train views / in / out | design | R2 on the pairs | OOD AUROC |",
        "|---|---|---|---:|---:|",
    ]
    for source, row in report["inputs"].items():
        norms = row["mean_norm"]
        for design in DESIGNS:
            entry = row[design]
            lines.append(
                f"| {source} | {norms['train_views']:.1f} / {norms['in']:.1f} / "
                f"{norms['out']:.1f} | {design} | {entry['r2']:.3f} | {entry['ood_auroc']:.3f} |"
            )
    lines += [
        "",
        "The same regression read as Bayesian linear regression (unit + bias design): the "
        "epistemic variance of its prediction, and the prediction shrunk towards the "
        "uniform's moment by it (prior variance tau2 = the fitted moments' spread):",
        "",
        "| head input | variance median in / out | tau2 | OOD AUROC of -variance | "
        "OOD AUROC shrunk |",
        "|---|---|---:|---:|---:|",
    ]
    for source, row in report["inputs"].items():
        e = row["bayesian"]
        v = e["epistemic_variance_median"]
        lines.append(
            f"| {source} | {v['in']:.2e} / {v['out']:.2e} | {e['tau2']:.2e} | "
            f"{e['ood_auroc_of_minus_variance']:.3f} | {e['ood_auroc_shrunk']:.3f} |"
        )
    lines += [
        "",
        f"Command: `python benchmarks/method/kappa_ood_analysis.py {report['run']}`",
        "",
        f"Machine: {env['platform']}, {env['cpu_count']} CPUs "
        f"({env.get('cpu_model', 'CPU model not recorded')}); torch {env['packages']['torch']}, "
        f"visim commit {env['git_commit']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--every", type=int, default=5, help="use every N-th training image")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    run = open_run(args.run)
    model, recipe = run.pretrained.eval(), run.config.recipe
    train_x, moments = training_pairs(model, recipe, args.every, args.workers)
    val = centre_inputs(model, open_source(str(DATA / "val.npz"), "train"), recipe, args.workers)
    ood = centre_inputs(model, open_source(OOD, "test"), recipe, args.workers)
    report = {
        "run": str(args.run),
        "training_images": len(moments) // 2,
        "inputs": {name: analyse(train_x[name], moments, val[name], ood[name]) for name in INPUTS},
        "environment": environment_report(),
    }
    (RESULTS / "kappa_ood_analysis.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "kappa_ood_analysis.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
