"""The `visim` command: thin commands that parse options, call the library, print with rich.

Adding a command: a module of its own in visim/cli, registered below. At import time it may
import only typer, rich and visim's light modules (settings dataclasses, the names of choices,
defaults): what parsing and --help need. Everything that loads torch, FFCV, DALI or matplotlib
is imported inside the command function, e.g.

    def embed(run_dir: Path = typer.Argument(...)) -> None:
        from visim.train.some_heavy_module import do_it  # loads torch: only when run

        do_it(run_dir)

so that `visim --help` and every `visim CMD --help` answer at once. Ctrl-C needs nothing from
a command (visim/cli/interrupts.py): an interrupt ends it with one line and exit code 130; a
command that writes files catches KeyboardInterrupt to remove what it half wrote and prints
its own line with interrupts.report_interrupt. So must a command whose work notes the signal
and raises it at its own stop points (convert, and everything that reads through the
evaluation loader: eval, embed, demo): Typer turns a KeyboardInterrupt it catches into a
silent exit 130. tests/cli/test_cli_startup.py checks every registered command for the first
two; tests/cli/test_interrupts.py interrupts each at several moments.
"""

from __future__ import annotations

import typer

from visim.cli.bench import bench_app
from visim.cli.check import check
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
app.command()(check)
app.command(name="eval")(evaluate)
app.command()(embed)
app.command()(demo)
app.add_typer(bench_app)


@app.callback()
def _root() -> None:
    """SimSiam and VI-SimSiam pre-training with per-image uncertainty."""
