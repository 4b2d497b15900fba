"""`visim check DATA.beton`: is the file what `visim convert` wrote?"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from visim.cli.failure import EXIT_BAD_INPUT, fail
from visim.cli.progress_bar import phase_progress_bar

MIB = 2**20


def check(
    data: Path = typer.Argument(..., help="A .beton written by `visim convert`."),
) -> None:
    """Verify a .beton against its manifest: its structure, then every chunk's checksum."""
    # Reading a .beton's tables loads FFCV: only when run.
    from visim.pipeline.sources.base import SourceError
    from visim.pipeline.sources.beton_check import check_beton

    if data.suffix != ".beton" or not data.is_file():
        message = f"DATA {data}: not a .beton file (visim check verifies `visim convert`'s)"
        raise fail(message, EXIT_BAD_INPUT)
    try:
        with phase_progress_bar({"verify": "verifying (MiB)"}) as show:

            def progress(done: int, total: int) -> None:
                show("verify", done // MIB, total // MIB)

            found = check_beton(data, verify=True, progress=progress)
    except SourceError as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None
    if not found.has_checksums:
        raise fail(
            f"{data}: structure sound ({found.images} images), but its manifest records no "
            "checksums (converted by an older visim): its content cannot be verified; convert "
            "it again to add them",
            EXIT_BAD_INPUT,
        )
    rate = found.size / found.seconds / 1e9 if found.seconds > 0 else float("inf")
    Console(emoji=False).print(
        f"{escape(str(data))}: ok: {found.images} images, {found.size / MIB:.1f} MiB, every "
        f"checksum matches ({found.seconds:.1f} s, {rate:.2f} GB/s)",
        highlight=False,
        soft_wrap=True,
    )
