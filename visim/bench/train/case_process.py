"""Measure one TrainCase in a process of its own.

    python -m visim.bench.train.case_process CASE.json RESULT.json RUN_DIR

A fresh process per case: Accelerate's state is a process-wide singleton (one precision per
process), torch.compile caches and allocator pools would carry over, and the peak memory read
at the end must be this case's alone. The run is an ordinary `visim pretrain` run into
RUN_DIR; what it logged and how much memory it took is written to RESULT.json as
{"measurement": {...}} or {"error": "..."}.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
from pathlib import Path

import torch

from visim.bench.train.case import TrainCase
from visim.bench.train.color_stage_timing import time_color_stage
from visim.train.launch import run_pretrain
from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir

# ru_maxrss is in KiB on Linux and in bytes on macOS.
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024


def _peak_rss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss * _RSS_UNIT / 2**20


def measure(case: TrainCase, run_dir: RunDir) -> dict:
    """Train the case; its metrics windows, steps per epoch and peak memory."""
    if case.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    code = run_pretrain(case.train_config(), run_dir, resume=False)
    if code != 0:
        raise RuntimeError(f"training exited with code {code}")
    # Loader workers are joined when their loader is freed, and getrusage counts only
    # joined children: collect now so that they are in the figure.
    gc.collect()
    training = json.loads(run_dir.environment.read_text())["training"]
    # Read before the colour stage is timed, so that the peak is the training's alone.
    peak_device = torch.cuda.max_memory_allocated() if case.device == "cuda" else None
    color = {}
    if case.time_color_stage:
        device = torch.device("cuda", 0) if case.device == "cuda" else torch.device("cpu")
        color = time_color_stage(case.train_config().recipe, case.batch_size, device)
    return {
        **color,
        "records": [
            {key: record[key] for key in ("step", "images_per_s", "data_wait")}
            for record in read_metrics(run_dir.metrics)
        ],
        "steps_per_epoch": training["steps_per_epoch"],
        "precision": training["precision"],
        "device": training["device"],
        "peak_rss_mib": _peak_rss_mib(resource.RUSAGE_SELF),
        # The largest single worker (RSS counts pages shared with the parent again).
        "peak_worker_rss_mib": _peak_rss_mib(resource.RUSAGE_CHILDREN) or None,
        "peak_device_mib": peak_device / 2**20 if peak_device is not None else None,
    }


def main(argv: list[str]) -> None:
    case_path, result_path, run_path = (Path(arg) for arg in argv)
    case = TrainCase.from_json(json.loads(case_path.read_text()))
    try:
        measurement = measure(case, RunDir(run_path))
    except Exception as error:
        result_path.write_text(json.dumps({"error": f"{type(error).__name__}: {error}"}))
        raise  # the traceback goes to the log the parent keeps
    result_path.write_text(json.dumps({"measurement": measurement}))


if __name__ == "__main__":
    main(sys.argv[1:])
