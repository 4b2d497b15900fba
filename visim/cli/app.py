"""The `visim` command: thin commands that parse options, call the library, print with rich."""

from __future__ import annotations

import typer

from visim.cli.bench import bench_app
from visim.cli.convert import convert
from visim.cli.demo import demo
from visim.cli.embed import embed
from visim.cli.eval import evaluate
from visim.cli.info import info
from visim.cli.pretrain import pretrain

app = typer.Typer(
    name="visim",
    help="SimSiam and VI-SimSiam pre-training with per-image uncertainty.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(info)
app.command()(pretrain)
app.command()(convert)
app.command(name="eval")(evaluate)
app.command()(embed)
app.command()(demo)
app.add_typer(bench_app)


@app.callback()
def _root() -> None:
    """SimSiam and VI-SimSiam pre-training with per-image uncertainty."""


def main() -> None:
    app()
