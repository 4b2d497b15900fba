"""A rich progress bar per phase of a long command, on stderr and on terminals only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

# show(phase, done, total): the bar of `phase` (added on its first call) at done / total.
ShowProgress = Callable[[str, int, int], None]


@contextmanager
def phase_progress_bar(labels: dict[str, str]) -> Iterator[ShowProgress]:
    """One bar per phase, labelled labels[phase]; gone when done, so that errors and the
    summary print below a clean line."""
    console = Console(stderr=True, emoji=False)
    # A bar redrawn in place means nothing in a log file: show it on terminals only.
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def show(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(labels[phase], total=total)
            bar.update(tasks[phase], completed=done)

        yield show
