"""The training benchmark's table, findings and method notes (visim.bench.report)."""

from __future__ import annotations

import dataclasses

from visim.bench.report import (
    Column,
    TableReport,
    mebibytes,
    on_off,
    percent,
    rate,
    ratio,
    seconds,
)
from visim.bench.train.findings import (
    color_stage_findings,
    factor_effects,
    stall_findings,
    target_findings,
)
from visim.bench.train.throughput import TrainBench

COLUMNS = [
    Column("method", "method", numeric=False),
    Column("arch", "arch", numeric=False),
    Column("precision", "precision", numeric=False),
    Column("channels_last", "channels_last", on_off, numeric=False),
    Column("compile", "compile", on_off, numeric=False),
    Column("backend", "backend", numeric=False),
    Column("images_per_s", "image pairs/s", rate),
    Column("x_baseline", "x baseline", ratio),
    Column("data_stall", "data stall", percent),
    Column("data_wait", "data wait", percent),
    Column("color_share", "colour stage", percent),
    Column("warmup_extra_s", "warm-up s", seconds),
    Column("peak_rss_mib", "peak RSS MiB", mebibytes),
    Column("peak_device_mib", "device MiB", mebibytes),
    Column("note", "notes", numeric=False),
]


def bench_settings(bench: TrainBench) -> dict:
    return {
        **dataclasses.asdict(bench.profile),
        "device": bench.device,
        "workers": bench.workers,
        "data": bench.data or bench.default_data(),
        "beton": str(bench.beton) if bench.beton else None,
        "case_timeout_s": bench.case_timeout_s,
    }


def _method(bench: TrainBench) -> list[str]:
    p = bench.profile
    bf16 = p.window_steps_for("bf16")
    where = (
        "every setting"
        if p.real_data_at == "all"
        else "the fastest synthetic setting of each method and arch"
    )
    steps = f"{p.window_steps} steps" + (f" ({bf16} in bf16)" if bf16 != p.window_steps else "")
    return [
        "every row is a `visim pretrain` run in a fresh process: the real training loop "
        "(forward, loss, backward, optimiser step, per-step loss check) on one "
        f"{bench.device} device, {'CIFAR' if p.cifar_stem else 'ImageNet'} stem, recipe "
        f"{p.recipe} at {p.size} px, batch {p.batch_size}",
        f"windows of {steps}: one warm-up window, then {p.windows} timed; figures are over "
        "the timed windows, leaving out any that holds an epoch restart",
        "image pairs/s: source images per second, each giving the two augmented views a step "
        "trains on",
        "x baseline: image pairs/s over the first row's (the first value of every axis, on "
        "synthetic data)",
        "data stall: 1 - real / synthetic image pairs/s at identical settings; data wait: the "
        "share of time the loop itself measured waiting for the next batch (on a CPU the "
        "loader's workers also take cores from the step, so the stall can far exceed the wait)",
        "warm-up s: the warm-up window's time beyond the same steps at steady speed "
        "(torch.compile, FFCV's numba compilation, first allocations)",
        "colour stage: the ffcv backend's GPU colour stage (jitter, grayscale, blur, solarize, "
        "normalise on both views, compiled), timed with device events in the baseline's process "
        "on uint8 crops of this size and batch, as a share of a step that includes it",
        "peak RSS: the training process's maximum resident memory; device MiB: "
        "torch.cuda.max_memory_allocated",
        f"real-data backends read {bench_settings(bench)['data']} (ffcv: a .beton of it), "
        f"at {where}",
    ]


def train_report(
    bench: TrainBench, rows: list[dict], command: str, environment: dict
) -> TableReport:
    findings = [
        *factor_effects(rows, bench.profile.axes),
        *stall_findings(rows),
        *color_stage_findings(rows),
        *target_findings(rows),
    ]
    return TableReport(
        benchmark="train",
        title="Training throughput",
        unit="image pairs per second of the training loop",
        columns=COLUMNS,
        rows=rows,
        findings=findings,
        method=_method(bench),
        settings=bench_settings(bench),
        command=command,
        environment=environment,
    )
