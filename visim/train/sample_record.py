"""A test aid ([runtime] record_samples): what each process trained on, and its final weights.

Each process writes RUN_DIR/debug/rank<r>.json with the labels of every sample it trained on,
in order (for the synthetic backend a label is the sample's id), and a SHA-256 of its final
parameters. Tests read these to check that processes see disjoint data and end identical.
"""

from __future__ import annotations

import hashlib
import json

import torch

from visim.pipeline.backends.batch import Batch
from visim.train.run_dir import RunDir


def parameters_sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, parameter in model.named_parameters():
        digest.update(name.encode())
        digest.update(parameter.detach().to("cpu").contiguous().numpy().tobytes())
    return digest.hexdigest()


class SampleRecord:
    def __init__(self, run_dir: RunDir, rank: int, enabled: bool) -> None:
        self.path = run_dir.debug / f"rank{rank}.json"
        self.enabled = enabled
        self.labels: list[int] = []

    def add(self, batch: Batch) -> None:
        if self.enabled:
            self.labels += batch.label.tolist()

    def write(self, model: torch.nn.Module) -> None:
        if self.enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            record = {"labels": self.labels, "parameters_sha256": parameters_sha256(model)}
            self.path.write_text(json.dumps(record))
