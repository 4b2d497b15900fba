"""RUN_DIR/training_curves.png: what metrics.jsonl says, drawn when a run ends."""

from __future__ import annotations

import math
from pathlib import Path

from visim.core import figures
from visim.core.atomic_write import write_atomically
from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir


def write_training_curves(run_dir: RunDir) -> str:
    """Draw the run's metrics into RUN_DIR/training_curves.png; returns a line saying what
    happened (written, or why not: no metrics yet, or no matplotlib)."""
    records = read_metrics(run_dir.metrics) if run_dir.metrics.exists() else []
    if not records:
        return "no training curves: metrics.jsonl has no lines yet"
    try:
        figures.check_plots_available()
    except figures.MissingPlotsExtra as error:
        return f"no training curves: {error}"
    write_atomically(run_dir.training_curves, lambda path: plot_training_curves(records, path))
    return f"training curves: {run_dir.training_curves}"


def plot_training_curves(records: list[dict], path: Path) -> None:
    """metrics.jsonl against the step: loss, kappa with its spread, alignment, step scale.

    VI-SimSiam's loss is drawn relative to the uniform density (loss_vs_uniform) and kappa on a
    log axis; a SimSiam run has no kappa panel's data, so that panel says so.
    """
    steps = [r["step"] for r in records]

    def column(key: str) -> list[float]:
        return [math.nan if r.get(key) is None else r[key] for r in records]

    fig = figures.new_figure(10, 6.5)
    axes = fig.subplots(2, 2, sharex=True)
    loss_key = "loss_vs_uniform" if "loss_vs_uniform" in records[0] else "loss"
    axes[0, 0].plot(steps, column(loss_key))
    axes[0, 0].set_ylabel(loss_key.replace("_", " "))
    kappa_axis = axes[0, 1]
    if "kappa_median" in records[0]:
        kappa_axis.fill_between(
            steps, column("kappa_q05"), column("kappa_q95"), alpha=0.3, label="5-95 %"
        )
        kappa_axis.plot(steps, column("kappa_median"), label="median")
        kappa_axis.plot(steps, column("kappa_min"), ":", color="grey", label="min, max")
        kappa_axis.plot(steps, column("kappa_max"), ":", color="grey")
        kappa_axis.set_yscale("log")
        kappa_axis.legend()
    else:
        kappa_axis.text(0.5, 0.5, "no kappa (SimSiam)", ha="center", transform=kappa_axis.transAxes)
    kappa_axis.set_ylabel("kappa per view")
    axes[1, 0].plot(steps, column("cosine"))
    axes[1, 0].set_ylabel("cosine between the views")
    axes[1, 1].plot(steps, column("align_grad_scale"))
    axes[1, 1].set_yscale("log")
    axes[1, 1].set_ylabel("alignment step vs SimSiam's")
    for ax in axes[1]:
        ax.set_xlabel("optimizer step")
    fig.suptitle("Training curves (metrics.jsonl)")
    fig.savefig(path, dpi=120, format="png")  # the path may be a temporary name
