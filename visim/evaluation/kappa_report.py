"""The kappa section of eval.json for a VI-SimSiam run (docs/method.md section 4)."""

from __future__ import annotations

import numpy as np
import torch

from visim.evaluation.eval_report import (
    ExtremeImage,
    KappaReadoutUsed,
    KappaSection,
    ScoreMetrics,
)
from visim.evaluation.kappa_analysis import (
    kappa_spread,
    kappa_summary,
    kappa_vs_correctness,
    shared_histogram,
)
from visim.pipeline.sources.base import ImageSource


def kappa_report(
    kappas: dict[str, np.ndarray],
    probe_correct: np.ndarray,
    num_bins: int,
    readout: KappaReadoutUsed,
    by_readout: dict[str, ScoreMetrics],
    extremes: dict[str, list[ExtremeImage]],
) -> KappaSection:
    """The kappa section: what the kappa sets say, beside the readout that scored the test
    images, every readout's ranking metrics and the extreme images.

    kappas: "clean" (centre crops of the test images, in the order of probe_correct), and
    optionally "augmented" (single augmented views of test images), "ood" (centre crops of
    out-of-distribution images), and "readout" / "ood_readout" (the per-image kappa of a
    K-view readout, which then scores the images instead of the centre crop). Its ranking
    metrics (in- vs out-of-distribution among them) are in eval.json's "uncertainty"."""
    test_score = kappas.get("readout", kappas["clean"])
    single_views: dict[str, np.ndarray] = {
        name: kappas[name] for name in ("clean", "augmented", "ood") if name in kappas
    }
    return KappaSection(
        readout=readout,
        summary={name: kappa_summary(values) for name, values in kappas.items()},
        vs_probe_correctness=kappa_vs_correctness(test_score, probe_correct, num_bins),
        histogram=shared_histogram(single_views),
        augmented_below_clean=(
            bool(np.median(kappas["augmented"]) < np.median(kappas["clean"]))
            if "augmented" in kappas
            else None
        ),
        spread=kappa_spread(test_score),
        by_readout=by_readout,
        extremes=extremes,
    )


def extreme_images(
    test: dict[str, torch.Tensor],
    probe_correct: np.ndarray | torch.Tensor | None,
    source: ImageSource,
    count: int,
) -> dict[str, list[ExtremeImage]]:
    """The `count` highest- and lowest-kappa test images, most extreme first ("highest",
    "lowest"); probe_correct is None for each image without the probe's answers. `test` holds
    "kappa" and "indices" as extract_features returns them.
    """
    order = torch.argsort(test["kappa"], descending=True, stable=True)
    count = min(count, len(order))
    if count == 0:
        return {}
    picks = {"highest": order[:count], "lowest": order[len(order) - count :].flip(0)}

    def image(p: int) -> ExtremeImage:
        index = int(test["indices"][p])
        return ExtremeImage(
            index=index,
            item=source.describe(index),
            label=source.classes[int(test["labels"][p])],
            kappa=float(test["kappa"][p]),
            probe_correct=None if probe_correct is None else bool(probe_correct[p]),
        )

    return {side: [image(p) for p in positions] for side, positions in picks.items()}
