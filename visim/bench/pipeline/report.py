"""The pipeline benchmark's table, findings and method notes (visim.bench.report)."""

from __future__ import annotations

from dataclasses import asdict

from visim.bench.pipeline.contenders import BASELINE, CONTENDERS
from visim.bench.pipeline.data import BenchData
from visim.bench.pipeline.runner import BenchSettings, ContenderResult
from visim.bench.ratios import ratios_to
from visim.bench.report import Column, TableReport, rate, ratio, seconds
from visim.pipeline.convert.to_beton import WriteSettings

# The project's goals for the CPU pipelines: a 2-core machine, 224 px, the full recipe
# (blur included), photo-sized JPEGs, as multiples of the torch baseline.
CPU_TARGETS = {"ffcv": 4.0, "dali": 2.0}
NOTE_CHARS = 100  # the table shows the head of a reason; the JSON keeps it whole


def _by_round(values: list[float] | None) -> str:
    return " / ".join(rate(v) for v in values) if values else "-"


COLUMNS = [
    Column("backend", "backend", numeric=False),
    Column("reads", "reads", numeric=False),
    Column("images_per_s", "images/s", rate),
    Column("ratio_to_torch", f"x {BASELINE}", ratio),
    Column("images_per_s_by_round", "by round", _by_round),
    Column("setup_s", "setup s", seconds),
    Column("note", "notes", numeric=False),
]


def _note(result: ContenderResult) -> str:
    if result.status == "ok":
        return result.note
    head = result.reason.splitlines()[0] if result.reason else ""
    if len(head) > NOTE_CHARS:
        head = head[: NOTE_CHARS - 3] + "..."
    return f"{result.status}: {head}"


def result_rows(results: list[ContenderResult]) -> list[dict]:
    """One row per contender: its rate, its ratio to the baseline, or why it has none."""
    ratios = ratios_to(BASELINE, {r.name: r.images_per_s for r in results})
    rows = []
    for result in results:
        measured = result.measured
        rows.append(
            {
                "backend": result.name,
                "loader_backend": result.backend,
                "reads": CONTENDERS[result.name].reads,
                "status": result.status,
                "images_per_s": result.images_per_s,
                "ratio_to_torch": ratios[result.name],
                "images": measured.images if measured else None,
                "seconds": measured.seconds if measured else None,
                "images_per_s_by_round": [s.images_per_s for s in result.slices],
                "setup_s": result.setup_seconds,
                "note": _note(result),
                "reason": result.reason,
            }
        )
    return rows


def findings(rows: list[dict]) -> list[str]:
    """Each backend against its target, and FFCV's two-view modes against each other."""
    by_name = {row["backend"]: row for row in rows if row["status"] == "ok"}
    lines = []
    for name, target in CPU_TARGETS.items():
        row = by_name.get(name)
        if row is None or row["ratio_to_torch"] is None:
            continue
        met = "met" if row["ratio_to_torch"] >= target else "not met"
        lines.append(
            f"{name}: x{row['ratio_to_torch']:.2f} the {BASELINE} baseline "
            f"(CPU target at 224 px: x{target:g}, {met} here)"
        )
    once, twice = by_name.get("ffcv"), by_name.get("ffcv-decode-twice")
    if once and twice:
        lines.append(
            f"FFCV's default, {once['note']}, vs decode-twice: "
            f"x{once['images_per_s'] / twice['images_per_s']:.2f} images/s"
        )
    return lines


def _method(data: BenchData, images: dict, settings: BenchSettings, orders: list) -> list[str]:
    recipe = settings.recipe
    lines = [
        f"data: {images['images']} images in {images['classes']} classes from "
        f"{images['folder']} ({', '.join(images['formats'])}), {_spread(images['width_px'])} x "
        f"{_spread(images['height_px'])} px, files {_spread(images['file_kb'])} KB "
        "(min / median / max)",
        f"FFCV reads {data.beton}, converted once from the folder and reused while it matches; "
        "the other backends read the folder"
        if data.beton
        else "no .beton was used",
        f"the same recipe for all, at {recipe.size} px: crop scale {recipe.crop_scale}, colour "
        f"jitter p={recipe.jitter_prob}, grayscale p={recipe.grayscale_prob}, blur "
        f"p={recipe.blur_prob} (kernel {recipe.blur_kernel_size}), solarize "
        f"p={recipe.solarize_prob}, flip p={recipe.flip_prob}, normalise",
        f"batch {settings.batch_size}, {settings.workers} workers for every backend, views "
        f"delivered to {settings.device}",
        "images/s: source images per second, each giving the two augmented views a step uses",
        "setup s: building the loader and its first batches (worker start, FFCV's numba "
        "compilation, DALI's pipeline build), never timed",
        f"{settings.seconds:g} s of timing per backend in {settings.rounds} round(s); each "
        f"stretch begins after {settings.warmup_batches} untimed batches, so batches prefetched "
        "while a backend waited its turn are not counted",
        "order: " + " | ".join(", ".join(order) for order in orders),
    ]
    return lines


def _spread(spread: dict) -> str:
    """min / median / max, or the one value when all are equal."""
    if spread["min"] == spread["max"]:
        return f"{spread['min']:g}"
    return " / ".join(f"{spread[k]:g}" for k in ("min", "median", "max"))


def pipeline_report(
    results: list[ContenderResult],
    orders: list[list[str]],
    data: BenchData,
    images: dict,
    settings: BenchSettings,
    write_settings: WriteSettings,
    recipe_name: str,
    command: str,
    environment: dict,
) -> TableReport:
    rows = result_rows(results)
    return TableReport(
        benchmark="pipeline",
        title="Pipeline throughput",
        unit="source images per second (each gives two augmented views)",
        columns=COLUMNS,
        rows=rows,
        findings=findings(rows),
        method=_method(data, images, settings, orders),
        settings={
            "recipe": recipe_name,
            "recipe_fields": asdict(settings.recipe),
            "batch_size": settings.batch_size,
            "seconds_per_backend": settings.seconds,
            "rounds": settings.rounds,
            "warmup_batches": settings.warmup_batches,
            "workers": settings.workers,
            "device": str(settings.device),
            "seed": settings.seed,
            "order": orders,
            "data": images,
            "beton": str(data.beton) if data.beton else None,
            "beton_reused": data.beton_reused,
            "beton_problem": data.beton_problem,
            "beton_settings": {k: v for k, v in asdict(write_settings).items() if k != "workers"},
        },
        command=command,
        environment=environment,
    )
