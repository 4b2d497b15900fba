"""PNG figures of the kappa analysis; matplotlib comes with the `plots` extra.

Figures are built with matplotlib.figure.Figure, never pyplot, so no GUI backend or global
figure state is touched: saving a Figure renders with Agg.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from visim.train.atomic_write import write_atomically
from visim.train.evaluation.kappa_analysis import wants_log_scale

PLOTS_HINT = "pip install 'visim[plots]'"
HISTOGRAM_LABELS = {
    "clean": "clean test images",
    "augmented": "augmented test views",
    "ood": "out-of-distribution images",
}


class MissingPlotsExtra(RuntimeError):
    """matplotlib is not installed; the message says how to get it."""


def _figure(width: float, height: float):
    try:
        from matplotlib.figure import Figure
    except ModuleNotFoundError as error:
        raise MissingPlotsExtra(f"plots need matplotlib; run: {PLOTS_HINT}") from error
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig, path: Path) -> None:
    """As a PNG, atomically: a full disk leaves the previous plot, not half of a new one."""
    write_atomically(path, lambda temporary: fig.savefig(temporary, dpi=120, format="png"))


def check_plots_available() -> None:
    """MissingPlotsExtra now, before any work, rather than after the numbers are computed."""
    _figure(1, 1)


def plot_accuracy_per_bin(bins: list[dict], overall_accuracy: float, path: Path) -> None:
    """Probe accuracy of each equal-count kappa bin against the bin's mean kappa."""
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    mean_kappa = [b["mean_kappa"] for b in bins]
    ax.plot(mean_kappa, [100 * b["accuracy"] for b in bins], "o-", label="per kappa bin")
    ax.axhline(100 * overall_accuracy, color="grey", linestyle="--", label="all test images")
    if wants_log_scale(min(mean_kappa), max(mean_kappa)):
        ax.set_xscale("log")
    ax.set_xlabel(f"mean kappa of the bin ({len(bins)} bins of {bins[0]['count']} images)")
    ax.set_ylabel("linear probe top-1 accuracy (%)")
    ax.set_title("Accuracy against kappa")
    ax.legend()
    _save(fig, path)


def plot_kappa_histograms(histogram: dict, path: Path) -> None:
    """The named kappa sets (clean, augmented, out-of-distribution) overlaid as densities."""
    fig = _figure(6, 4)
    ax = fig.add_subplot()
    edges = np.asarray(histogram["edges"])
    for name, counts in histogram["counts"].items():
        counts = np.asarray(counts, dtype=np.float64)
        label = f"{HISTOGRAM_LABELS.get(name, name)} ({int(counts.sum())})"
        # Fractions per bin: the sets differ in size, their shapes are what is compared.
        ax.stairs(counts / max(counts.sum(), 1), edges, label=label)
    if histogram["log_spaced"]:
        ax.set_xscale("log")
    ax.set_xlabel("kappa")
    ax.set_ylabel("fraction of images")
    ax.set_title("kappa per view")
    ax.legend()
    _save(fig, path)


def plot_image_grid(
    images: list[np.ndarray], captions: list[str], colors: list[str], title: str, path: Path
) -> None:
    """uint8 [H, W, 3] images in a square-ish grid, each with a caption in its colour."""
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    fig = _figure(1.6 * columns, 1.75 * rows + 0.4)
    fig.suptitle(title)
    for i, (image, caption, color) in enumerate(zip(images, captions, colors, strict=True)):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(image)
        ax.set_title(caption, fontsize=8, color=color)
        ax.axis("off")
    _save(fig, path)


def plot_training_curves(records: list[dict], path: Path) -> None:
    """metrics.jsonl against the step: loss, kappa with its spread, alignment, step scale.

    VI-SimSiam's loss is drawn relative to the uniform density (loss_vs_uniform) and kappa on a
    log axis; a SimSiam run has no kappa panel's data, so that panel says so.
    """
    steps = [r["step"] for r in records]

    def column(key: str) -> list[float]:
        return [math.nan if r.get(key) is None else r[key] for r in records]

    fig = _figure(10, 6.5)
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
