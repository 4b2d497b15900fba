"""`visim embed RUN_DIR --data SRC --out FILE.parquet`: every image's embedding and kappa.

Only typer, rich and the settings are imported here; torch and the model come in when the
command runs, so that `visim --help` stays fast.
"""

from __future__ import annotations

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
from visim.cli.settings_option import settings_option
from visim.core.atomic_write import WriteFailed
from visim.evaluation.eval_settings import EmbedSettings, EvalError

if TYPE_CHECKING:
    from visim.evaluation.embed import EmbedResult


def embed(
    run_dir: Path = typer.Argument(..., help="Run directory written by `visim pretrain --out`."),
    data: str = settings_option(EmbedSettings, "data"),
    out: Path = settings_option(EmbedSettings, "out", "-o"),
    split: str = settings_option(EmbedSettings, "split"),
    checkpoint: Path | None = settings_option(EmbedSettings, "checkpoint"),
    projections: bool = settings_option(EmbedSettings, "projections"),
    reference: str | None = settings_option(EmbedSettings, "reference"),
    reference_split: str = settings_option(EmbedSettings, "reference_split"),
    batch_size: int = settings_option(EmbedSettings, "batch_size"),
    workers: int | None = settings_option(EmbedSettings, "workers"),
    device: str = settings_option(EmbedSettings, "device"),
    summary_images: int = settings_option(EmbedSettings, "summary_images"),
    force: bool = settings_option(EmbedSettings, "force"),
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
            f"density columns against {escape(result.reference)}",
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
