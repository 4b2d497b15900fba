"""`visim eval RUN_DIR --train DATA --test DATA`: what pre-training bought, and what kappa says."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from visim.cli import interrupts
from visim.cli.failure import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, fail
from visim.cli.settings_option import settings_option
from visim.core.atomic_write import WriteFailed
from visim.evaluation.eval_report import Accuracy, EvalReport, Uncertainty
from visim.evaluation.eval_settings import EvalError, EvalSettings


def _option(name: str):
    return settings_option(EvalSettings, name)


def evaluate(
    run_dir: Path = typer.Argument(..., help="Run directory written by `visim pretrain --out`."),
    train: str = _option("train"),
    test: str = _option("test"),
    ood: str | None = _option("ood"),
    train_split: str = _option("train_split"),
    test_split: str = _option("test_split"),
    ood_split: str = _option("ood_split"),
    checkpoint: Path | None = _option("checkpoint"),
    knn_k: int = _option("knn_k"),
    knn_temperature: float = _option("knn_temperature"),
    probe_weight_decay: float = _option("probe_weight_decay"),
    probe_max_iter: int = _option("probe_max_iter"),
    kappa_bins: int = _option("kappa_bins"),
    augmented_images: int = _option("augmented_images"),
    degraded_images: int = _option("degraded_images"),
    compare: Path | None = _option("compare"),
    kappa_readout: str = _option("kappa_readout"),
    kappa_views: int = _option("kappa_views"),
    grid_images: int = _option("grid_images"),
    batch_size: int = _option("batch_size"),
    workers: int | None = _option("workers"),
    device: str = _option("device"),
    plots: bool = _option("plots"),
    log_with: str | None = _option("log_with"),
) -> None:
    """Frozen-feature kNN and linear probe against a random init, and the kappa analysis."""
    options = dict(locals())  # first: exactly the options
    from visim.evaluation.evaluate import evaluate_run  # loads torch

    run_dir = options.pop("run_dir")
    console = Console(emoji=False)
    try:
        settings = EvalSettings(**options)
        report = evaluate_run(
            run_dir,
            settings,
            log=lambda line: console.print(f"[dim]{escape(line)}[/dim]", highlight=False),
        )
    except EvalError as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        # Caught here, not left to Typer, which would exit 130 without a word: the loader
        # raises it at a stop point, where the terminal's handler never saw it.
        interrupts.report_interrupt(f"interrupted; no eval results written to {run_dir}/eval")
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
    except WriteFailed as error:
        # Every file eval writes is replaced whole or not at all.
        message = f"{error}; the run and earlier eval results are as they were"
        raise fail(message, EXIT_ENVIRONMENT) from None
    print_report(console, report)


def top_k(accuracy: Accuracy, classifier: str, k: str) -> float:
    """accuracy.<classifier>.<k>: the accuracy table's columns are named pairs."""
    return getattr(getattr(accuracy, classifier), k)


def _percent(fraction: float) -> str:
    return f"{100 * fraction:.2f}"


def _number(value: float | None) -> str:
    """A correlation or AUROC; '-' where it is undefined (NaN) or not measured (None)."""
    return "-" if value is None or value != value else f"{value:.3f}"


KAPPA_SET_NAMES = {
    "clean": "centre crops of test images",
    "augmented": "augmented views of test images",
    "ood": "centre crops of out-of-distribution images",
    "readout": "test images, as read out",
    "ood_readout": "out-of-distribution images, as read out",
}
SCORE_NAMES = {
    "kappa": "kappa",
    "knn_mean_cosine": "kNN cos k=10",
    "knn_distance_50": "kNN dist k=50",
    "inverse_norm": "1 / feat. norm",
    "mahalanobis": "Mahalanobis",
    "probe_entropy": "probe entropy",
}
METRIC_COLUMNS = {
    "r_auroc": "R-AUROC",
    "probe_auroc": "probe AUROC",
    "ood_auroc": "OOD AUROC",
    "ood_fpr95": "FPR95",
    "cropped_higher": "cropped up",
    "blurred_higher": "blurred up",
}


def uncertainty_table(uncertainty: Uncertainty) -> Table:
    """Every uncertainty score by every metric: kappa (VI-SimSiam) beside the baselines, and
    the --compare run's label-free scores."""
    compare = uncertainty.compare
    title = f"Uncertainty scores; R@1 {_percent(uncertainty.r_at_1)} %"
    if compare is not None:
        title += f", compare run [{compare.method}] R@1 {_percent(compare.r_at_1)} %"
    table = Table(
        title=escape(title),
        caption="kappa scored as -log kappa; probe entropy knows the labels (a reference, not a "
        "rival); up: share of images more uncertain once cropped / blurred; FPR95: lower is "
        "better",
    )
    table.add_column("score", no_wrap=True)
    for header in METRIC_COLUMNS.values():
        table.add_column(header, justify="right")
    rows = [(SCORE_NAMES[name], metrics) for name, metrics in uncertainty.scores.items()]
    if compare is not None:
        rows += [
            (f"{SCORE_NAMES[name]} [{compare.method}]", metrics)
            for name, metrics in compare.scores.items()
        ]
    for label, metrics in rows:
        table.add_row(
            escape(label), *(_number(getattr(metrics, metric)) for metric in METRIC_COLUMNS)
        )
    return table


def print_report(console: Console, report: EvalReport) -> None:
    results = report.results
    accuracy = Table(title=f"Accuracy (%) on {escape(report.data['test'].location)}")
    accuracy.add_column("weights")
    columns = [("knn", "top1"), ("knn", "top5"), ("linear_probe", "top1"), ("linear_probe", "top5")]
    for method, k in columns:
        accuracy.add_column(f"{'kNN' if method == 'knn' else 'linear'} {k}", justify="right")
    labels = {"pretrained": "pre-trained", "random_init": "random init"}
    for variant, label in labels.items():
        accuracy.add_row(label, *(_percent(top_k(results[variant], m, k)) for m, k in columns))
    gains = [
        top_k(results["pretrained"], m, k) - top_k(results["random_init"], m, k) for m, k in columns
    ]
    accuracy.add_row("[bold]gain[/bold]", *(f"[bold]{100 * g:+.2f}[/bold]" for g in gains))
    console.print(accuracy)

    kappa = report.kappa
    console.print(uncertainty_table(report.uncertainty))
    if kappa is not None:
        correctness = kappa.vs_probe_correctness
        scores = Table(title="kappa", show_header=False)
        readout = kappa.readout
        scores.add_row(
            "read out per image as",
            "its centre crop"
            if readout.method == "center"
            else f"the {readout.method} over {readout.views} augmented views",
        )
        scores.add_row(
            "Spearman rho, kappa vs right/wrong (per image)",
            _number(correctness.spearman_per_image),
        )
        scores.add_row(
            "Spearman rho, mean kappa vs accuracy (per bin)", _number(correctness.spearman_bins)
        )
        spread = kappa.spread
        scores.add_row(
            "relative 5%-95% range on the test images",
            f"{100 * spread.relative_range:.3g} %"
            + ("" if spread.informative else " [yellow](not informative)[/yellow]"),
        )
        for name, summary in kappa.summary.items():
            scores.add_row(
                f"kappa, {KAPPA_SET_NAMES.get(name, name)}: median [5%, 95%]",
                f"{summary.median:.4g} [{summary.q05:.4g}, {summary.q95:.4g}]",
            )
        console.print(scores)

        bins = Table(title="Linear probe accuracy per equal-count kappa bin")
        for column in ("bin", "kappa range", "mean kappa", "accuracy (%)", "images"):
            bins.add_column(column, justify="right")
        for i, b in enumerate(correctness.bins, start=1):
            bins.add_row(
                str(i),
                f"{b.kappa_min:.4g} - {b.kappa_max:.4g}",
                f"{b.mean_kappa:.4g}",
                _percent(b.accuracy),
                str(b.count),
            )
        console.print(bins)

    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    eval_dir = Path(report.run_dir) / "eval"
    written = ["eval.json", *report.plots]
    console.print(f"wrote {escape(str(eval_dir))}/: {', '.join(written)}", highlight=False)
    if report.tracker != "none":
        console.print(f"logged the results to the {report.tracker} tracker", highlight=False)
