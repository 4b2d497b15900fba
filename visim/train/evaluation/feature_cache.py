"""Frozen features cached per run and dataset, recomputed when what produced them changes.

One file per (weights variant, dataset, split) under RUN_DIR/eval/cache/. Inside it sits the
fingerprint of everything the features depend on (the checkpoint's content hash, the data's
location and modification time, the evaluation transform); a file whose fingerprint differs
is stale and is overwritten, so a new checkpoint never reads old features.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import torch

from visim.train.atomic_write import write_atomically

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
