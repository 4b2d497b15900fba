"""`visim convert SRC OUT.beton`: any supported source to an FFCV file plus its manifest."""

from __future__ import annotations

from contextlib import AbstractContextManager
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from visim.cli import interrupts
from visim.cli.failure import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, fail
from visim.cli.interrupts import sigterm_interrupts
from visim.cli.progress_bar import phase_progress_bar
from visim.core.atomic_write import storage_failure
from visim.pipeline.backends.registry import MissingExtraError
from visim.pipeline.convert.manifest import manifest_path
from visim.pipeline.convert.to_beton import (
    WRITE_MODES,
    ConvertResult,
    ProgressCallback,
    StrictModeError,
    WriteSettings,
    convert_source,
    default_workers,
)
from visim.pipeline.convert.worker_processes import WorkerDied
from visim.pipeline.sources.base import AUTO_SPLIT, SPLITS, SourceError
from visim.pipeline.sources.factory import open_split

# Typer's choices, built from the pipeline's tuples so that those stay the one list (mypy
# cannot see members made this way).
WriteMode = Enum("WriteMode", {mode: mode for mode in WRITE_MODES}, type=str)  # type: ignore[misc]
Split = Enum("Split", {s: s for s in (*SPLITS, AUTO_SPLIT)}, type=str)  # type: ignore[misc]
SKIPPED_SHOWN = 10  # the manifest lists them all
PHASE_LABELS = {
    "checking": "checking images",
    "writing": "writing",
    "checksums": "checksums (MiB)",
}


def convert_progress_bar() -> AbstractContextManager[ProgressCallback]:
    """A bar per phase of convert (checking, writing)."""
    return phase_progress_bar(PHASE_LABELS)


def _print_summary(console: Console, result: ConvertResult) -> None:
    manifest = result.manifest
    skipped = manifest.skipped
    console.print(
        f"Wrote [bold]{manifest.num_images}[/bold] images in {len(manifest.classes)} classes "
        f"to {escape(str(result.output))} ({result.bytes_written / 2**20:.1f} MiB, "
        f"{result.seconds:.1f} s); skipped {len(skipped)}; "
        f"manifest {escape(str(manifest_path(result.output)))}",
        highlight=False,
        soft_wrap=True,
    )
    for item in skipped[:SKIPPED_SHOWN]:
        console.print(
            f"  skipped {escape(item['path'])}: {escape(item['reason'])}",
            highlight=False,
            soft_wrap=True,
        )
    if len(skipped) > SKIPPED_SHOWN:
        console.print(f"  ... and {len(skipped) - SKIPPED_SHOWN} more, listed in the manifest")


def convert(
    src: str = typer.Argument(
        ...,
        help="Image folder (root/<class>/*.jpg), IDX directory (MNIST family), CIFAR python "
        "batches directory, .npz file, or demo[:N[:SEED]].",
    ),
    out: Path = typer.Argument(..., help="The .beton to write; the manifest goes beside it."),
    split: Split = typer.Option(
        AUTO_SPLIT, help="Which split; auto: train where the source has splits, else all of it."
    ),
    max_resolution: int = typer.Option(256, help="Longest side stored; larger images shrink."),
    write_mode: WriteMode = typer.Option(
        "smart", help="How images are stored; smart: raw when small, JPEG when large."
    ),
    jpeg_quality: int = typer.Option(90, help="JPEG quality, 1-100."),
    smart_threshold: int = typer.Option(
        WriteSettings.smart_threshold, help="In smart mode, images of more raw bytes go JPEG."
    ),
    compress_probability: float = typer.Option(
        WriteSettings.compress_probability, help="In proportion mode, the share stored as JPEG."
    ),
    workers: int = typer.Option(default_workers(), help="Processes that decode and write."),
    force: bool = typer.Option(False, "--force", help="Overwrite OUT and its manifest."),
    strict: bool = typer.Option(False, "--strict", help="Fail if any image is unreadable."),
) -> None:
    """Convert a data set to an FFCV .beton plus a .json manifest, skipping unreadable images."""
    try:
        settings = WriteSettings(
            max_resolution=max_resolution,
            write_mode=write_mode.value,
            jpeg_quality=jpeg_quality,
            smart_threshold=smart_threshold,
            compress_probability=compress_probability,
            workers=workers,
        )
        source = open_split(src, split.value)
    except (SourceError, ValueError) as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None

    before = _modified(out)
    try:
        with sigterm_interrupts(), convert_progress_bar() as show:
            result = convert_source(
                source, out, settings, force=force, strict=strict, progress=show
            )
    except FileExistsError as error:
        raise fail(f"{error}; pass --force to overwrite it", EXIT_BAD_INPUT) from None
    except (SourceError, MissingExtraError, ValueError) as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None
    except StrictModeError as error:
        raise fail(f"--strict: {error}; nothing written", 1) from None
    except WorkerDied as error:
        raise fail(f"{error}; nothing written to {out}", EXIT_ENVIRONMENT) from None
    except OSError as error:  # the manifest or the checksums' read-back
        reason = storage_failure(error, out.parent) or str(error)
        message = f"could not write {out}: {reason}; nothing written to {out}"
        raise fail(message, EXIT_ENVIRONMENT) from None
    except KeyboardInterrupt:
        # The signal waits while the files are renamed into place: it may end a run whose
        # output is already complete.
        done = "written just before" if _modified(out) != before else "nothing written to"
        interrupts.report_interrupt(f"interrupted; {done} {out}")
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
    _print_summary(Console(emoji=False), result)


def _modified(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None
