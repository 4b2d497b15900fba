"""The `visim` command: thin commands that parse options, call the library, print with rich."""

from __future__ import annotations

import typer

from visim.cli.info import info

app = typer.Typer(
    name="visim",
    help="SimSiam and VI-SimSiam pre-training with per-image uncertainty.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(info)


@app.callback()
def _root() -> None:
    """SimSiam and VI-SimSiam pre-training with per-image uncertainty."""


def main() -> None:
    app()
