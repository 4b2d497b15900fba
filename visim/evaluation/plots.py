"""PNG figures of the kappa analysis (visim.core.figures makes and saves them)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from visim.core.figures import new_figure, save_png
from visim.evaluation.eval_report import KappaBin, KappaHistogram
from visim.evaluation.kappa_analysis import wants_log_scale

HISTOGRAM_LABELS = {
    "clean": "clean test images",
    "augmented": "augmented test views",
    "ood": "out-of-distribution images",
}


def plot_accuracy_per_bin(bins: list[KappaBin], overall_accuracy: float, path: Path) -> None:
    """Probe accuracy of each equal-count kappa bin against the bin's mean kappa."""
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    mean_kappa = [b.mean_kappa for b in bins]
    ax.plot(mean_kappa, [100 * b.accuracy for b in bins], "o-", label="per kappa bin")
    ax.axhline(100 * overall_accuracy, color="grey", linestyle="--", label="all test images")
    if wants_log_scale(min(mean_kappa), max(mean_kappa)):
        ax.set_xscale("log")
    ax.set_xlabel(f"mean kappa of the bin ({len(bins)} bins of {bins[0].count} images)")
    ax.set_ylabel("linear probe top-1 accuracy (%)")
    ax.set_title("Accuracy against kappa")
    ax.legend()
    save_png(fig, path)


def plot_kappa_histograms(histogram: KappaHistogram, path: Path) -> None:
    """The named kappa sets (clean, augmented, out-of-distribution) overlaid as densities."""
    fig = new_figure(6, 4)
    ax = fig.add_subplot()
    edges = np.asarray(histogram.edges)
    for name, counted in histogram.counts.items():
        counts = np.asarray(counted, dtype=np.float64)
        label = f"{HISTOGRAM_LABELS.get(name, name)} ({int(counts.sum())})"
        # Fractions per bin: the sets differ in size, their shapes are what is compared.
        ax.stairs(counts / max(counts.sum(), 1), edges, label=label)
    if histogram.log_spaced:
        ax.set_xscale("log")
    ax.set_xlabel("kappa")
    ax.set_ylabel("fraction of images")
    ax.set_title("kappa per view")
    ax.legend()
    save_png(fig, path)


def plot_image_grid(
    images: list[np.ndarray], captions: list[str], colors: list[str], title: str, path: Path
) -> None:
    """uint8 [H, W, 3] images in a square-ish grid, each with a caption in its colour."""
    columns = math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    fig = new_figure(1.6 * columns, 1.75 * rows + 0.4)
    fig.suptitle(title)
    for i, (image, caption, color) in enumerate(zip(images, captions, colors, strict=True)):
        ax = fig.add_subplot(rows, columns, i + 1)
        ax.imshow(image)
        ax.set_title(caption, fontsize=8, color=color)
        ax.axis("off")
    save_png(fig, path)
