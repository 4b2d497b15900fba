"""matplotlib figures for every layer that draws (eval's plots, the training curves).

matplotlib comes with the `plots` extra. Figures are built with matplotlib.figure.Figure,
never pyplot, so no GUI backend or global figure state is touched: saving a Figure renders
with Agg.
"""

from __future__ import annotations

from pathlib import Path

from visim.core import extras
from visim.core.atomic_write import write_atomically


class MissingPlotsExtra(RuntimeError):
    """matplotlib is not installed; the message says how to get it."""


def new_figure(width: float, height: float):
    check_plots_available()
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def save_png(fig, path: Path) -> None:
    """As a PNG, atomically: a full disk leaves the previous plot, not half of a new one."""
    write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=120, format="png"))


def check_plots_available() -> None:
    """MissingPlotsExtra now, before any work, rather than after the numbers are computed."""
    fix = extras.missing(extras.PLOTS)
    if fix is not None:
        raise MissingPlotsExtra(f"matplotlib is missing; run: {fix}")
