"""`visim demo`: the whole tour on the built-in demo set, in minutes on a CPU."""

from __future__ import annotations

import datetime
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from visim.cli import interrupts
from visim.cli.convert import convert_progress_bar
from visim.cli.eval import print_report
from visim.cli.failure import EXIT_BAD_INPUT, EXIT_ENVIRONMENT, fail
from visim.cli.settings_option import settings_option
from visim.core.atomic_write import WriteFailed
from visim.demo.settings import DemoSettings
from visim.evaluation.eval_settings import EvalError
from visim.pipeline.convert.to_beton import ProgressCallback
from visim.train.config import ConfigError

if TYPE_CHECKING:
    from visim.demo.run import DemoResult


class RichDemoDisplay:
    """Step headers as rules, notes dimmed, and convert's progress bar unless quiet."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console, self.quiet = console, quiet

    def step(self, number: int, total: int, title: str) -> None:
        self.console.rule(f"[bold]Step {number}/{total}[/bold]  {escape(title)}", align="left")

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{escape(text)}[/dim]", highlight=False, soft_wrap=True)

    def convert_progress(self) -> AbstractContextManager[ProgressCallback]:
        if self.quiet:
            return nullcontext(lambda phase, done, total: None)
        return convert_progress_bar()


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def print_summary(console: Console, result: DemoResult) -> None:
    print_report(console, result.report)
    knn = {v: result.report.results[v].knn.top1 for v in ("pretrained", "random_init")}
    console.print(
        f"[bold]kNN top-1: {100 * knn['pretrained']:.1f} % pre-trained vs "
        f"{100 * knn['random_init']:.1f} % random init "
        f"({100 * (knn['pretrained'] - knn['random_init']):+.1f} points)[/bold]",
        highlight=False,
    )
    # Paths stay on one line, whatever the width: they are there to be copied.
    paths = [("numbers", "eval.json"), *(("plot", name) for name in result.report.plots)]
    for label, name in paths:
        path = escape(str(result.eval_dir / name))
        console.print(f"{label + ':':8} {path}", highlight=False, soft_wrap=True)
    steps = ", ".join(
        f"{label} {_duration(result.seconds[key])}"
        for key, label in (("data", "data"), ("pretrain", "pre-training"), ("eval", "evaluation"))
    )
    console.print(f"total time {_duration(result.total_seconds)} ({steps})", highlight=False)


def demo(
    out: Path = settings_option(DemoSettings, "out", "-o"),
    images: int = settings_option(DemoSettings, "images"),
    epochs: int = settings_option(DemoSettings, "epochs"),
    size: int = settings_option(DemoSettings, "size"),
    batch_size: int = settings_option(DemoSettings, "batch_size"),
    backend: str = settings_option(DemoSettings, "backend"),
    workers: int | None = settings_option(DemoSettings, "workers"),
    force: bool = settings_option(DemoSettings, "force"),
    quiet: bool = settings_option(DemoSettings, "quiet"),
) -> None:
    """Make the built-in demo set, pre-train VI-SimSiam on it, and evaluate the result.

    A re-run reuses what is done, and resumes an interrupted pre-training from its checkpoint.
    """
    options = dict(locals())  # first: exactly the options
    from visim.demo.run import DemoStopped, run_demo  # loads torch

    console = Console(emoji=False)
    try:
        settings = DemoSettings(**options)
        console.print(
            f"visim demo: everything goes to {escape(str(out.resolve()))}",
            highlight=False,
            soft_wrap=True,
        )
        result = run_demo(settings, RichDemoDisplay(console, quiet))
    except (ConfigError, EvalError) as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None
    except WriteFailed as error:
        message = f"{error}; what the demo finished before is kept: run it again to go on"
        raise fail(message, EXIT_ENVIRONMENT) from None
    except DemoStopped as stopped:
        if stopped.code > 128:  # a signal: training has said where its checkpoint is
            raise typer.Exit(stopped.code) from None
        raise fail(
            f"pre-training stopped (exit code {stopped.code}); run the same command again to "
            f"resume from the last checkpoint in {stopped.run_dir}",
            stopped.code,
        ) from None
    except KeyboardInterrupt:
        interrupts.report_interrupt("interrupted; run the same command again to continue")
        raise typer.Exit(interrupts.EXIT_INTERRUPTED) from None
    print_summary(console, result)
