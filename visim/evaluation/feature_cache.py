"""Frozen features cached per run and dataset, recomputed when what produced them changes.

One file per (weights variant, dataset, split) under RUN_DIR/eval/cache/. Inside it sits the
fingerprint of everything the features depend on (the checkpoint's content hash, the data's
location and modification time, the evaluation transform); a file whose fingerprint differs
is stale and is overwritten, so a new checkpoint never reads old features. FeatureStore reads
the features of a run's two weight variants on the evaluation sets through this cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import torch

from visim.core.atomic_write import write_atomically
from visim.evaluation.features import source_features
from visim.evaluation.run_loading import EvaluatedRun
from visim.models.siamese import SiameseModel
from visim.pipeline.sources.base import ImageSource

# Bump when the cached payload changes shape, so old caches are recomputed, not misread.
CACHE_FORMAT = 1


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes: a checkpoint copied elsewhere keeps its cache valid."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_identity(location: str) -> dict:
    """Where the data is and when it last changed (a named generated set has no file)."""
    path = Path(location).expanduser()
    if not path.exists():
        return {"location": location}
    return {"location": str(path.resolve()), "mtime_ns": path.stat().st_mtime_ns}


def cache_file(cache_dir: Path, variant: str, location: str, split: str) -> Path:
    """RUN_DIR/eval/cache/<variant>-<readable name>-<split>-<hash of the full location>.pt"""
    identity = data_identity(location)["location"]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(identity).name or identity)[:40]
    key = hashlib.sha256(f"{identity}\0{split}".encode()).hexdigest()[:12]
    return cache_dir / f"{variant}-{name}-{split}-{key}.pt"


def cached(path: Path, fingerprint: dict, compute: Callable[[], dict]) -> tuple[dict, bool]:
    """The payload stored at `path` if its fingerprint matches, else compute() saved there.

    Returns (payload, whether it came from the cache). The write is atomic: an interrupted
    evaluation leaves either the old file or the new one, never half of one.
    """
    fingerprint = {"format": CACHE_FORMAT, **fingerprint}
    if path.exists():
        try:
            stored = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # unreadable (truncated by a crash, or an older format): recompute
            stored = None
        if stored is not None and stored.get("fingerprint") == fingerprint:
            return stored["payload"], True
    payload = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = {"fingerprint": fingerprint, "payload": payload}
    write_atomically(path, lambda temporary: torch.save(stored, temporary))
    return payload, False


class FeatureStore:
    """features(variant, model, source) -> extract_features' dict, computed at most once.

    variant "pretrained" is the run's weights; "random_init" the weights it started from.
    """

    def __init__(
        self,
        run: EvaluatedRun,
        batch_size: int,
        device: torch.device,
        workers: int,
        log: Callable[[str], None],
    ):
        self.run = run
        self.batch_size = batch_size
        self.workers = workers
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
        self, variant: str, model: SiameseModel, source: ImageSource, role: str
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
