"""The scaling benchmark's table, findings and method notes (visim.bench.report)."""

from __future__ import annotations

import dataclasses

from visim.bench.report import Column, TableReport, mebibytes, percent, rate, ratio, seconds
from visim.bench.scaling.growth import growth_findings
from visim.bench.scaling.runner import ScalingBench

COLUMNS = [
    Column("images", "images"),
    Column("batch_size", "batch"),
    Column("steps_per_epoch", "steps/epoch"),
    Column("epoch_s", "epoch s", seconds),
    Column("first_epoch_s", "first epoch s", seconds),
    Column("epoch_growth_data", "x per 2x data", ratio),
    Column("epoch_growth_batch", "x per 2x batch", ratio),
    Column("images_per_s", "image pairs/s", rate),
    Column("data_wait", "data wait", percent),
    Column("peak_rss_mib", "peak RSS MiB", mebibytes),
    Column("peak_worker_rss_mib", "worker RSS MiB", mebibytes),
    Column("peak_device_mib", "device MiB", mebibytes),
    Column("note", "notes", numeric=False),
]


def _method(bench: ScalingBench) -> list[str]:
    p = bench.profile
    data = "synthetic samples" if p.backend == "synthetic" else f"demo images read by {p.backend}"
    return [
        f"every row trains one epoch of N {data} at batch B with `visim pretrain` in a fresh "
        f"process: {p.method} {p.arch} ({'CIFAR' if p.cifar_stem else 'ImageNet'} stem), "
        f"{p.precision}, channels_last {'on' if p.channels_last else 'off'}, compile "
        f"{'on' if p.compile else 'off'}, recipe {p.recipe} at {p.size} px, on {bench.device}",
        "epoch s: extrapolated - steps per epoch x the steady seconds per step of the metrics "
        "windows after the first; what every epoch after the first costs",
        "first epoch s: measured - the first epoch from the loader's first request to the last "
        "step, warm-up included (process start, model build and the final checkpoint are not)",
        "x per 2x data / batch: the factor epoch s grows by per doubling, from the next smaller "
        "data set (same batch) or batch (same data set); x2.00 is proportional growth",
        "peak RSS: the training process's maximum resident memory; worker RSS: the largest "
        "loader worker's (it counts pages shared with the parent again); device MiB: "
        "torch.cuda.max_memory_allocated",
    ]


def scaling_report(
    bench: ScalingBench, rows: list[dict], command: str, environment: dict
) -> TableReport:
    p = bench.profile
    return TableReport(
        benchmark="scaling",
        title="Scaling: time per epoch and memory",
        unit="seconds per epoch as the data set and the batch grow",
        columns=COLUMNS,
        rows=rows,
        findings=growth_findings(rows, p.dataset_sizes, p.batch_sizes),
        method=_method(bench),
        settings={
            **dataclasses.asdict(p),
            "device": bench.device,
            "workers": bench.workers,
            "case_timeout_s": bench.case_timeout_s,
        },
        command=command,
        environment=environment,
    )
