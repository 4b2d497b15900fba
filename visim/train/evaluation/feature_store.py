"""Features of a run's two weight variants on the evaluation sets, read through the cache."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from visim.pipeline.sources.base import ImageSource
from visim.train.evaluation.eval_settings import EvalSettings
from visim.train.evaluation.feature_cache import cache_file, cached, data_identity, file_digest
from visim.train.evaluation.features import source_features
from visim.train.evaluation.run_loading import EvaluatedRun


class FeatureStore:
    """features(variant, model, source) -> extract_features' dict, computed at most once.

    variant "pretrained" is the run's weights; "random_init" the weights it started from.
    """

    def __init__(
        self,
        run: EvaluatedRun,
        settings: EvalSettings,
        device: torch.device,
        log: Callable[[str], None],
    ):
        self.run = run
        self.batch_size = settings.batch_size
        self.workers = settings.workers
        self.device = device
        self.log = log
        self.cache_dir = run.run_dir.path / "eval" / "cache"
        recipe = run.config.recipe
        # What the evaluation transform depends on: a recipe change means new features.
        self.transform = {
            "size": recipe.size,
            "eval_crop_fraction": recipe.eval_crop_fraction,
            "mean": list(recipe.mean),
            "std": list(recipe.std),
        }
        self.weights_identity = {
            "pretrained": {"weights_sha256": file_digest(run.weights)},
            # Random weights are a function of the seed, the model and torch's init code.
            "random_init": {
                "seed": run.config.runtime.seed,
                "model": dataclasses.asdict(run.config.model),
                "torch": str(torch.__version__),  # a str subclass the safe loader refuses
            },
        }
        self.cache_hits = 0

    def features(
        self, variant: str, model: torch.nn.Module, source: ImageSource, role: str
    ) -> dict[str, torch.Tensor]:
        """role ("train", "test", "ood") only names the set in progress messages."""
        with_kappa = variant == "pretrained" and self.run.has_kappa
        fingerprint = {
            "weights": self.weights_identity[variant],
            "data": data_identity(source.location),
            "split": source.split,
            "images": len(source),
            "transform": self.transform,
            "with_kappa": with_kappa,
        }
        described = f"{variant} weights, {role} set {source.location} [{source.split}]"

        def compute() -> dict[str, torch.Tensor]:
            self.log(f"features: {described}, {len(source)} images")
            return source_features(
                self.run,
                model,
                source,
                batch_size=self.batch_size,
                device=self.device,
                workers=self.workers,
                with_kappa=with_kappa,
            )

        path = cache_file(self.cache_dir, variant, source.location, source.split)
        payload, hit = cached(path, fingerprint, compute)
        if hit:
            self.cache_hits += 1
            self.log(f"features: {described} (cached)")
        return payload
