"""The PNG files of a VI-SimSiam run's kappa analysis, drawn from its eval report."""

from __future__ import annotations

from pathlib import Path

from visim.evaluation import plots
from visim.evaluation.eval_report import EvalReport
from visim.evaluation.run_loading import EvaluatedRun
from visim.pipeline.backends.eval_loader import CleanImages
from visim.pipeline.sources.base import ImageSource

PLOT_FILES = {
    "bins": "accuracy_per_kappa_bin.png",
    "histograms": "kappa_histograms.png",
    "highest": "highest_kappa_images.png",
    "lowest": "lowest_kappa_images.png",
}


def write_kappa_plots(
    report: EvalReport, test: ImageSource, run: EvaluatedRun, eval_dir: Path
) -> list[str]:
    """The PNG files of the kappa analysis of a VI-SimSiam run's report; returns their names
    (relative to eval_dir)."""
    kappa = report.kappa
    assert kappa is not None, "a SimSiam run has no kappa to plot"
    overall = report.results["pretrained"].linear_probe.top1
    plots.plot_accuracy_per_bin(
        kappa.vs_probe_correctness.bins, overall, eval_dir / PLOT_FILES["bins"]
    )
    plots.plot_kappa_histograms(kappa.histogram, eval_dir / PLOT_FILES["histograms"])
    written = [PLOT_FILES["bins"], PLOT_FILES["histograms"]]
    # The images as the model saw them (resized, centre-cropped), without the normalisation.
    shown = CleanImages(test, run.config.recipe.replace(mean=(0, 0, 0), std=(1, 1, 1)))
    for side, extremes in kappa.extremes.items():
        # An image read for the features may have become unreadable since: left out.
        loaded = [(row, shown[row.index]) for row in extremes]
        rows = [row for row, item in loaded if item is not None]
        images = [
            (item[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
            for _, item in loaded
            if item is not None
        ]
        plots.plot_image_grid(
            images,
            [f"{row.kappa:.4g}" for row in rows],
            ["tab:green" if row.probe_correct else "tab:red" for row in rows],
            f"{side.capitalize()} kappa test images (green: probe right, red: wrong)",
            eval_dir / PLOT_FILES[side],
        )
        written.append(PLOT_FILES[side])
    return written
