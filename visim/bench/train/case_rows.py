"""One table row per TrainCase: its settings and what its run measured, or why it has none."""

from __future__ import annotations

from visim.bench.train.case import TrainCase
from visim.bench.train.case_runner import CaseOutcome
from visim.bench.train.windows import NoSteadyWindow, steady_state, windows_from_records

# What a case that timed the GPU colour stage adds (color_stage_timing).
COLOR_STAGE_FIELDS = ("color_stage_ms", "color_stage_eager_ms", "color_stage_compiled")
NOTE_CHARS = 100  # the table shows the head of a reason; the JSON keeps it whole
SETTING_FIELDS = (
    "method",
    "arch",
    "precision",
    "channels_last",
    "compile",
    "backend",
    "size",
    "batch_size",
    "device",
)


def _settings(case: TrainCase) -> dict:
    return {name: getattr(case, name) for name in SETTING_FIELDS}


def unmeasured_row(case: TrainCase, status: str, reason: str) -> dict:
    """A row without figures: status "skipped" (never started) or "failed"."""
    head = reason.splitlines()[0] if reason else ""
    if len(head) > NOTE_CHARS:
        head = head[: NOTE_CHARS - 3] + "..."
    return {**_settings(case), "status": status, "reason": reason, "note": f"{status}: {head}"}


def measured_row(case: TrainCase, outcome: CaseOutcome) -> dict:
    """The row of a finished case: steady-state figures and peak memory."""
    if outcome.measurement is None:
        return unmeasured_row(case, "failed", outcome.problem or "no result")
    measured = outcome.measurement
    windows = windows_from_records(measured["records"], case.batch_size)
    try:
        steady = steady_state(windows, measured["steps_per_epoch"])
    except NoSteadyWindow as error:
        return unmeasured_row(case, "failed", str(error))
    return {
        **_settings(case),
        "status": "ok",
        "reason": None,
        "note": "",
        "trained_precision": measured["precision"],
        "images_per_s": steady.images_per_s,
        "window_images_per_s": list(steady.window_images_per_s),
        "data_wait": steady.data_wait,
        "seconds_per_step": steady.seconds_per_step,
        "warmup_extra_s": steady.warmup_extra_seconds,
        "steps_per_epoch": measured["steps_per_epoch"],
        "windows": [
            {"steps": [w.first_step, w.last_step], "seconds": w.seconds, "data_wait": w.data_wait}
            for w in windows
        ],
        "peak_rss_mib": measured["peak_rss_mib"],
        "peak_worker_rss_mib": measured["peak_worker_rss_mib"],
        "peak_device_mib": measured["peak_device_mib"],
        "wall_s": outcome.wall_seconds,
        **{key: measured[key] for key in COLOR_STAGE_FIELDS if key in measured},
    }
