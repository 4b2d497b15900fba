"""How a command fails: one red line on stderr and an exit code."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

EXIT_ENVIRONMENT = 1  # the machine refused: a full disk, a read-only file system, no permission
EXIT_BAD_INPUT = 2  # the options or the data: a damaged .beton, an unknown option value


def fail(message: str, code: int) -> typer.Exit:
    """Print `message` as an error and return the Exit to raise (raise fail(...) from None)."""
    Console(stderr=True, emoji=False).print(
        f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code)
