"""Screen `visim demo` configurations on a validation draw of the demo set, never its test split.

Each named configuration lays a few options over the demo's own pre-training configuration
(visim.demo.settings.demo_train_config) and trains it on the demo's training images
(demo:4000:0, the torch backend); it is evaluated as the demo evaluates (kNN with k = 20,
linear probe, kappa with every readout), but on the test split of another draw of the demo
set (demo:4000:1): the same ten classes, other images, so that no choice is made on the
images the demo reports on.

    python benchmarks/method/demo_screen.py --configurations paper,relative-moment-lr0.5

Results accumulate in benchmarks/method/demo_screen.json (a configuration run again replaces its
row) and benchmarks/method/demo_screen.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from method_runs import chosen, commands_and_machine, markdown_table, row_of, visim

from visim.demo.settings import DEMO_KNN_K, DemoSettings, demo_train_config
from visim.evaluation.eval_report import json_ready, read_eval_report
from visim.train.config import config_from_dict, dump_config
from visim.train.environment import environment_report

RESULTS = Path(__file__).parent
VALIDATION = "demo:4000:1"  # another draw of the demo set: its test split is the validation set
OOD = "/usr/share/datasets/fashion-mnist"  # grey clothing, nothing like the coloured shapes
KAPPA_VIEWS = 8

# What each configuration changes in the demo's pre-training configuration; every kappa
# choice is spelled out, so that a row keeps its meaning when the demo's own changes.
NO_SUPPORT = {"kappa_support": "none"}
PAPER = {
    "vi_loss": "nll",
    "kappa_param": "softplus",
    "kappa_source": "predictor-hidden",
    **NO_SUPPORT,
}
RELATIVE_MOMENT = {
    "vi_loss": "relative",
    "kappa_param": "moment",
    "kappa_source": "backbone",
    **NO_SUPPORT,
}
# What every row's options are laid over besides the demo's configuration: the demo's budget
# when this screen began, so that rows keep their meaning when the demo's own budget changes.
SCREEN_BASE = {"optim": {"epochs": 8, "clip_grad_norm": None}}
NLL_MOMENT_SUPPORT = {**RELATIVE_MOMENT, "vi_loss": "nll", "kappa_support": "bank"}


def _longer(
    epochs: int, model: dict | None = None, seed: int | None = None, **optim: object
) -> dict:
    """The demo's configuration (NLL, moment head on the backbone, bank) trained longer, with
    the `model` options changed and another training seed where given."""
    configuration = {
        "model": {**NLL_MOMENT_SUPPORT, **(model or {})},
        "optim": {"epochs": epochs, **optim},
    }
    if seed is not None:
        configuration["runtime"] = {"seed": seed}
    return configuration


CONFIGURATIONS: dict[str, dict] = {
    "paper": {"model": PAPER},
    "relative-moment": {"model": RELATIVE_MOMENT},
    "relative-moment-lr0.2": {"model": RELATIVE_MOMENT, "optim": {"lr": 0.2}},
    "relative-moment-lr0.5": {"model": RELATIVE_MOMENT, "optim": {"lr": 0.5}},
    "simsiam-lr0.5": {"model": {"method": "simsiam"}, "optim": {"lr": 0.5}},
    "simsiam": {"model": {"method": "simsiam"}},
    "nll-moment": {"model": {**RELATIVE_MOMENT, "vi_loss": "nll"}},
    "nll-moment-support": {"model": NLL_MOMENT_SUPPORT},
    "nll-moment-support-16ep": _longer(16),
    # 24 epochs diverged (kNN 16.0, median kappa 0.01), and so did a 16-epoch demo run (its
    # loss jumped from -1208 to +342534 at step ~770 of 992): the rows below test what stops it.
    "nll-moment-support-24ep": _longer(24),
    "nll-moment-support-24ep-pred-decay": _longer(24, fix_pred_lr=False),
    "nll-moment-support-16ep-clip25": _longer(16, clip_grad_norm=25.0),
    "nll-moment-support-16ep-clip50": _longer(16, clip_grad_norm=50.0),
    "nll-moment-support-24ep-clip25": _longer(24, clip_grad_norm=25.0),
    # On the backbone, kappa followed the background's lightness
    # (benchmarks/method/demo_kappa_factors.md);
    # the predictor's hidden layer, the pre-training default, sits after the projector.
    "nll-moment-support-16ep-clip25-predictor-hidden": _longer(
        16, {"kappa_source": "predictor-hidden"}, clip_grad_norm=25.0
    ),
    # The head's likelihood gradient reaches the backbone it reads, rewarding features that
    # predict a view's agreement (docs/method.md 2.3); detached, it only reads them.
    "nll-moment-support-16ep-clip25-detach": _longer(
        16, {"kappa_detach": True}, clip_grad_norm=25.0
    ),
    # The NLL weighs each image's alignment by its own kappa, so images whose views already
    # agree are pulled together hardest; mean-kappa keeps the NLL's step size, weights alike.
    "mean-kappa-moment-support-16ep-clip25": _longer(
        16, {"vi_loss": "mean-kappa"}, clip_grad_norm=25.0
    ),
    # The same two with another training seed: how far one run's kappa AUROCs can be trusted.
    "nll-moment-support-16ep-clip25-seed1": _longer(16, seed=1, clip_grad_norm=25.0),
    "mean-kappa-moment-support-16ep-clip25-seed1": _longer(
        16, {"vi_loss": "mean-kappa"}, seed=1, clip_grad_norm=25.0
    ),
}


def run_configuration(name: str, out: Path) -> dict:
    settings = DemoSettings(out=out / name, backend="torch", quiet=True)
    base = config_from_dict(SCREEN_BASE, base=demo_train_config(settings, "torch"))
    config = config_from_dict(CONFIGURATIONS[name], base=base, origin=name)
    run_dir = settings.run_dir
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a benchmark measures a whole run, never a resumed one
    config_file = out / f"{name}.toml"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(dump_config(config))
    pretrain = ["pretrain", "--config", str(config_file), "--out", str(run_dir)]
    evaluate = [
        *("eval", str(run_dir), "--train", settings.source, "--test", VALIDATION),
        *("--knn-k", str(DEMO_KNN_K), "--ood", OOD, "--augmented-images", "1000"),
        *("--kappa-readout", "fit", "--kappa-views", str(KAPPA_VIEWS), "--no-plots"),
    ]
    seconds = {"pretrain": visim(pretrain), "eval": visim(evaluate)}
    report = read_eval_report(run_dir / "eval" / "eval.json")
    env = environment_report()
    return {
        "overrides": CONFIGURATIONS[name],
        # Rows accumulate over machines and commits: each says where its seconds come from.
        "ran_on": {"cpu": env.get("cpu_model", "not recorded"), "commit": env["git_commit"]},
        "commands": ["visim " + " ".join(pretrain), "visim " + " ".join(evaluate)],
        "seconds": seconds,
        "random_init": json_ready(report.results["random_init"]),
        **row_of(report),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configurations", required=True)
    parser.add_argument("--out", type=Path, default=Path("runs/demo-screen"))
    args = parser.parse_args()
    names = chosen(parser, args.configurations, CONFIGURATIONS)
    results_file = RESULTS / "demo_screen.json"
    summary = json.loads(results_file.read_text()) if results_file.exists() else {"runs": {}}
    for name in names:
        summary["runs"][name] = run_configuration(name, args.out.resolve())
        summary["environment"] = environment_report()
        results_file.write_text(json.dumps(summary, indent=2) + "\n")
        (RESULTS / "demo_screen.md").write_text(markdown(summary))
    print(markdown(summary))


def _short(commit: str) -> str:
    return commit[:12] + (" with uncommitted changes" if commit.endswith("-dirty") else "")


def markdown(summary: dict) -> str:
    runs = summary["runs"]
    lines = [
        "# `visim demo` configurations screened on a validation draw of the demo set",
        "",
        "The demo's pre-training (ResNet-18, 32 px crops of the `small` recipe, projector 512, "
        "predictor bottleneck 128, batch 64, 8 epochs of demo:4000:0, no gradient clipping, "
        "torch backend) with the options each row names; evaluated as the demo evaluates "
        "(kNN k = 20, linear probe), "
        f"but on the test split of {VALIDATION}, never on the demo's own test images. OOD: "
        "Fashion-MNIST's test split. Accuracies in %.",
        "",
        "| configuration | options | random-init kNN top-1 | ran on (CPU, visim commit) |",
        "|---|---|---:|---|",
        *(
            f"| {name} | `{json.dumps(row['overrides'])}` | "
            f"{100 * row['random_init']['knn']['top1']:.1f} | "
            f"{row['ran_on']['cpu']}, {_short(row['ran_on']['commit'])} |"
            for name, row in runs.items()
        ),
        "",
        *markdown_table(runs),
        "",
        *commands_and_machine(runs, summary["environment"]),
        "",
        "Repeat: `python benchmarks/method/demo_screen.py --configurations NAME[,NAME...]`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
