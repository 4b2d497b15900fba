"""How a command fails: one red line on stderr and an exit code."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from visim.core.exit_codes import EXIT_BAD_INPUT, EXIT_ENVIRONMENT

__all__ = ["EXIT_BAD_INPUT", "EXIT_ENVIRONMENT", "fail"]


def fail(message: str, code: int) -> typer.Exit:
    """Print `message` as an error and return the Exit to raise (raise fail(...) from None)."""
    Console(stderr=True, emoji=False).print(
        f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True
    )
    return typer.Exit(code)
