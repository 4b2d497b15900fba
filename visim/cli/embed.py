"""`visim embed RUN_DIR --data SRC --out FILE.parquet`: every image's embedding and kappa.

Only typer, rich and the settings are imported here; torch and the model come in when the
command runs, so that `visim --help` stays fast.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from visim.cli import interrupts
from visim.cli.failure import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, fail
from visim.cli.interrupts import sigterm_interrupts
from visim.cli.progress_bar import phase_progress_bar
from visim.core.atomic_write import WriteFailed
from visim.evaluation.eval_settings import EmbedSettings, EvalError
from visim.pipeline.sources.factory import SOURCES_HELP

if TYPE_CHECKING:
    from visim.evaluation.embed import EmbedResult

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(EmbedSettings)}


def embed(
    run_dir: Path = typer.Argument(..., help="Run directory written by `visim pretrain --out`."),
    data: str = typer.Option(..., "--data", help=f"The images to embed: {SOURCES_HELP}."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="The Parquet file to write, one row per image."
    ),
    split: str = typer.Option(
        _DEFAULTS["split"], help="Split of --data; auto: train where it has splits, else all."
    ),
    checkpoint: Path | None = typer.Option(
        None, help="Weights to use (default: the run's newest checkpoint or export)."
    ),
    projections: bool = typer.Option(
        _DEFAULTS["projections"],
        "--projections/--no-projections",
        help="Also write the projector's output (column projection).",
    ),
    reference: str | None = typer.Option(
        None,
        help="Images the kNN density columns measure against: "
        f"{SOURCES_HELP} (default: the run's training data; none: no kNN columns).",
    ),
    reference_split: str = typer.Option(
        _DEFAULTS["reference_split"], help="Split of --reference (auto: train where it has one)."
    ),
    batch_size: int = typer.Option(_DEFAULTS["batch_size"], help="Images per forward pass."),
    workers: int | None = typer.Option(
        None,
        help="Data-loading processes (default: all cores but one on a CPU, every core with a GPU).",
    ),
    device: str = typer.Option(_DEFAULTS["device"], help="auto, cpu, cuda or cuda:N."),
    summary_images: int = typer.Option(
        _DEFAULTS["summary_images"],
        help="Lowest- and highest-kappa images named in the summary (0: none).",
    ),
    force: bool = typer.Option(_DEFAULTS["force"], "--force", help="Overwrite --out."),
) -> None:
    """Backbone embedding, kappa and label-free uncertainty scores of every image of a source,
    as a Parquet table."""
    options = dict(locals())
    run_dir = options.pop("run_dir")
    # torch and the model: imported only when the command runs.
    from visim.evaluation.embed import embed_run

    try:
        settings = EmbedSettings(**options)
        with sigterm_interrupts(), phase_progress_bar({"embed": "embedding images"}) as show:
            result = embed_run(
                run_dir, settings, progress=lambda done, total: show("embed", done, total)
            )
    except EvalError as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None
    except WriteFailed as error:
        raise fail(f"{error}; nothing else was changed", EXIT_ENVIRONMENT) from None
    except KeyboardInterrupt:
        # report_interrupt, not fail(): it marks the line printed, so that the exit does not
        # print "error: interrupted" a second time.
        interrupts.report_interrupt(f"interrupted; nothing written to {out}")
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
    print_summary(Console(emoji=False), result)


def print_summary(console: Console, result: EmbedResult) -> None:
    """What was written, the kappa distribution and the images at both of its ends."""
    described = [
        f"{name} ({result.widths[name]} floats)" if name in result.widths else name
        for name in result.columns
    ]
    console.print(
        f"wrote {result.rows} rows to {escape(str(result.out))}: {', '.join(described)}",
        highlight=False,
        soft_wrap=True,
    )
    if result.unreadable:
        more = result.unreadable - len(result.unreadable_items)
        named = ", ".join(result.unreadable_items) + (f" and {more} more" if more else "")
        console.print(
            f"[yellow]{result.unreadable} unreadable images[/yellow] (null embedding and kappa): "
            f"{escape(named)}",
            highlight=False,
            soft_wrap=True,
        )
    if result.reference is not None:
        console.print(
            f"kNN density columns against {escape(result.reference)}",
            highlight=False,
            soft_wrap=True,
        )
    if result.kappa is None:
        console.print("SimSiam run: no kappa", highlight=False)
        return
    k = result.kappa
    console.print(
        f"kappa of {k.count} images: median {k.median:.4g} [5%: {k.q05:.4g}, "
        f"95%: {k.q95:.4g}], min {k.min:.4g}, max {k.max:.4g}, mean {k.mean:.4g}",
        highlight=False,
        soft_wrap=True,
    )
    for warning in [*result.warnings, result.spread_warning]:
        if warning is not None:
            console.print(
                f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True
            )
    titles = {"lowest": "Lowest kappa (most uncertain)", "highest": "Highest kappa"}
    for side, title in titles.items():
        images = result.extremes.get(side, [])
        if not images:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column("kappa", justify="right")
        table.add_column("index", justify="right")
        table.add_column("class", justify="left")
        table.add_column("item", overflow="fold")
        for image in images:
            table.add_row(
                f"{image.kappa:.4g}",
                str(image.index),
                escape(image.label),
                escape(image.item),
            )
        console.print(table)
