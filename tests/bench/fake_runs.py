"""Stand-ins for measured runs, so orchestration and tables can be tested in milliseconds."""

from __future__ import annotations

from visim.bench.train.case import TrainCase
from visim.bench.train.case_runner import CaseOutcome


def metric_records(rates: list[float], window_steps: int, data_wait: float = 0.0) -> list[dict]:
    """metrics.jsonl records of a run logging every window_steps steps at these rates."""
    return [
        {"step": (i + 1) * window_steps, "images_per_s": rate, "data_wait": data_wait}
        for i, rate in enumerate(rates)
    ]


def outcome(
    case: TrainCase,
    rate: float,
    *,
    steps_per_epoch: int = 1000,
    data_wait: float = 0.0,
    rss: float = 1000.0,
) -> CaseOutcome:
    """A finished case that trained at `rate` images/s after a slower warm-up window."""
    windows = (case.max_steps or steps_per_epoch) // case.window_steps
    rates = [rate / 4] + [rate] * (windows - 1)
    return CaseOutcome(
        measurement={
            "records": metric_records(rates, case.window_steps, data_wait),
            "steps_per_epoch": steps_per_epoch,
            "precision": case.precision,
            "device": case.device,
            "peak_rss_mib": rss,
            "peak_worker_rss_mib": None,
            "peak_device_mib": None,
        },
        problem=None,
        wall_seconds=1.0,
    )
