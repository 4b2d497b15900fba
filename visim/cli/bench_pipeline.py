"""`visim bench pipeline SRC`: source images per second of every loader backend, side by side."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from visim.bench.pipeline.contenders import BASELINE, CONTENDERS, parse_contenders
from visim.cli.bench_common import publish, repeat_command
from visim.cli.convert import PHASE_LABELS
from visim.cli.failure import EXIT_BAD_INPUT, fail
from visim.pipeline.augment.recipe import PRESETS, recipe_preset

DEFAULT_BACKENDS = ",".join(CONTENDERS)


class _Display:
    """A live bar on a terminal; one plain line per step in a log file."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}

    def _show(self, key: str, description: str, done: int, total: int | None) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.bar.add_task(description, total=total)
        self.bar.update(self.tasks[key], description=description, completed=done, total=total)

    def converting(self, phase: str, done: int, total: int) -> None:
        self._show(phase, f"converting to .beton: {PHASE_LABELS[phase]}", done, total)

    def benchmarking(self, contender: str, activity: str, done: int, total: int) -> None:
        description = f"{contender}: {activity}" if contender else activity
        self._show("bench", description, done, total or None)
        if not self.console.is_terminal:
            self.console.print(description, highlight=False, markup=False)


@contextmanager
def _display() -> Iterator[_Display]:
    display = _Display(Console(stderr=True, emoji=False))
    with display.bar:
        yield display


def pipeline(
    src: str = typer.Argument(..., help="Image folder SRC/<class>/*.jpg read by every backend."),
    backends: str = typer.Option(
        DEFAULT_BACKENDS,
        help=f"Comma-separated, timed in this order (reversed every other round); "
        f"ratios are to '{BASELINE}'.",
    ),
    size: int = typer.Option(224, help="Crop size of each view (px)."),
    recipe: str = typer.Option(
        "imagenet", help=f"Augmentation preset ({', '.join(PRESETS)}), at --size."
    ),
    batch_size: int = typer.Option(64, help="Source images per batch."),
    seconds: float = typer.Option(20.0, help="Seconds of timing per backend, over all rounds."),
    rounds: int = typer.Option(2, help="Rounds the timing is split into, interleaving backends."),
    warmup_batches: int = typer.Option(
        4, help="Untimed batches before each timed stretch (covers the loaders' prefetching)."
    ),
    workers: int | None = typer.Option(
        None, help="Worker processes/threads of every backend (default: all cores)."
    ),
    device: str = typer.Option("auto", help="Where views are delivered: auto, cpu or cuda."),
    beton: Path | None = typer.Option(
        None, help="The .beton FFCV reads, made once from SRC and reused (default: SRC.beton)."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    markdown_out: Path | None = typer.Option(
        None, "--markdown", help="Write the results, data, machine and command as Markdown."
    ),
) -> None:
    """Time every loader backend on the same images and recipe, side by side in one run."""
    # These load torch and the loader backends: imported once the options are parsed.
    import torch

    from visim.bench.option_values import resolve_device
    from visim.bench.pipeline.data import (
        bench_write_settings,
        default_beton_path,
        describe_images,
        open_image_folder,
        prepare_data,
    )
    from visim.bench.pipeline.report import pipeline_report
    from visim.bench.pipeline.runner import BenchSettings, run_bench
    from visim.bench.report import measurement_environment

    environment = measurement_environment()
    try:
        contenders = parse_contenders(backends)
        source = open_image_folder(src)
        settings = BenchSettings(
            recipe=recipe_preset(recipe, size=size),
            batch_size=batch_size,
            seconds=seconds,
            workers=environment["cpu_count"] if workers is None else workers,
            device=torch.device(resolve_device(device)),
            rounds=rounds,
            warmup_batches=warmup_batches,
        )
    except ValueError as error:  # SourceError is a ValueError too
        raise fail(str(error), EXIT_BAD_INPUT) from None
    if BASELINE not in {c.name for c in contenders}:
        Console(stderr=True, emoji=False).print(
            f"note: '{BASELINE}' is not in --backends: no ratios this run"
        )
    write_settings = bench_write_settings(settings.workers)

    with _display() as display:
        data = prepare_data(
            source,
            contenders,
            beton or default_beton_path(source),
            write_settings,
            display.converting,
        )
        images = describe_images(source)
        results, orders = run_bench(contenders, data, settings, display.benchmarking)

    options = {
        "backends": ",".join(c.name for c in contenders),
        "size": size,
        "recipe": recipe,
        "batch-size": batch_size,
        "seconds": seconds,
        "rounds": rounds,
        "warmup-batches": warmup_batches,
        "workers": settings.workers,
        "device": settings.device.type,
        "beton": beton,
    }
    command = f"{repeat_command('pipeline', options)} {shlex.quote(src)}"
    report = pipeline_report(
        results, orders, data, images, settings, write_settings, recipe, command, environment
    )
    publish(report, json_out, markdown_out)
