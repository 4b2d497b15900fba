"""RUN_DIR/training_curves.png: what metrics.jsonl says, drawn when a run ends."""

from __future__ import annotations

from visim.train.atomic_write import write_atomically
from visim.train.evaluation import plots
from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir


def write_training_curves(run_dir: RunDir) -> str:
    """Draw the run's metrics into RUN_DIR/training_curves.png; returns a line saying what
    happened (written, or why not: no metrics yet, or no matplotlib)."""
    records = read_metrics(run_dir.metrics) if run_dir.metrics.exists() else []
    if not records:
        return "no training curves: metrics.jsonl has no lines yet"
    try:
        plots.check_plots_available()
    except plots.MissingPlotsExtra:
        return f"no training curves: matplotlib is missing; run: {plots.PLOTS_HINT}"
    write_atomically(
        run_dir.training_curves, lambda path: plots.plot_training_curves(records, path)
    )
    return f"training curves: {run_dir.training_curves}"
