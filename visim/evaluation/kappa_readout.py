"""How `visim eval` reads one kappa out for an image: its centre crop, or K augmented views.

The kappa head is trained on augmented views only, and what it learns to predict is how well
a view's prediction will match the other view's target, about (d-1) c / (1-c). Across views
of one image that varies with how harsh each augmentation is; across images, with how stable
the image's representation is. A centre crop is one view the head never saw in training;
the mean or median over K augmented views averages the augmentation out and keeps the image.
The head is fitted on training images only, so on an image unlike them it extrapolates;
`fit` does not ask the head: it measures how well the image's own K views agree, and gives
the kappa under which that agreement is likeliest (docs/method.md section 5).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from visim.evaluation.features import view_kappas
from visim.evaluation.run_loading import EvaluatedRun
from visim.models.siamese import SiameseModel
from visim.pipeline.backends.eval_loader import augmented_batches
from visim.pipeline.sources.base import ImageSource

# Views per image behind the clean-vs-augmented histogram when the readout draws none.
HISTOGRAM_VIEWS = 2


class KappaReader:
    """kappa scores of a run's pretrained model on evaluation sets; `readout` is one of
    eval_settings.KAPPA_READOUTS (checked there, with the other options)."""

    def __init__(
        self,
        run: EvaluatedRun,
        model: SiameseModel,
        readout: str,
        views: int,
        batch_size: int,
        workers: int,
        log: Callable[[str], None],
    ):
        self.run, self.model, self.readout, self.views = run, model, readout, views
        self.batch_size, self.workers, self.log = batch_size, workers, log
        self.device = next(model.parameters()).device

    def views_of(self, source: ImageSource, views: int, indices=None) -> dict[str, torch.Tensor]:
        """view_kappas' dict for `views` augmented views of `indices` (default: all images)."""
        batches = augmented_batches(
            source,
            self.run.config.recipe,
            views,
            self.run.config.runtime.seed,
            max(1, self.batch_size // views),
            self.device,
            self.workers,
            indices,
        )
        return view_kappas(self.model, batches)

    def scores(self, source: ImageSource, clean: dict[str, torch.Tensor]) -> dict:
        """kappa per image in the order of clean["indices"] (numpy [N]) by every readout this
        evaluation can give: "center" always; "mean", "median" and (with K >= 2) "fit" when the
        readout draws augmented views, whose head kappas "views" then holds ([N, K]; else None).

        clean: extract_features' dict of `source` (its "kappa" is the centre-crop kappa).
        """
        read: dict = {"center": clean["kappa"].numpy(), "views": None}
        if self.readout == "center":
            return read
        self.log(
            f"kappa readout: {self.readout} of {self.views} augmented views of "
            f"{len(clean['indices'])} images of {source.location} [{source.split}]"
        )
        drawn = self.views_of(source, self.views, clean["indices"].tolist())
        if not torch.equal(drawn["indices"], clean["indices"]):
            # Both passes skip the same unreadable items; anything else is a bug, not bad data.
            raise RuntimeError(f"{source.location}: augmented and clean passes saw other items")
        read["views"] = drawn["kappa"]
        read["mean"] = drawn["kappa"].mean(dim=1).numpy()
        read["median"] = drawn["kappa"].median(dim=1).values.numpy()
        if "fit" in drawn:
            read["fit"] = drawn["fit"].numpy()
        return read

    def augmented_sample(
        self, source: ImageSource, clean: dict[str, torch.Tensor], read: dict, count: int
    ) -> np.ndarray:
        """kappa of single augmented views of up to `count` test images, chosen at random
        (seeded by the run): the views the readout drew when it drew some, else new ones."""
        positions = np.random.default_rng(self.run.config.runtime.seed).permutation(
            len(clean["indices"])
        )[:count]
        positions.sort()
        if read["views"] is not None:
            return read["views"][positions].flatten().numpy()
        self.log(f"kappa of augmented views: {len(positions)} test images")
        indices = clean["indices"][positions].tolist()
        return self.views_of(source, HISTOGRAM_VIEWS, indices)["kappa"].flatten().numpy()
