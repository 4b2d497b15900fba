"""What the training benchmark commands share: errors, progress lines, the repeat command,
and writing the report."""

from __future__ import annotations

import shlex
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from visim.cli.failure import fail
from visim.core.exit_codes import EXIT_NOTHING_MEASURED

if TYPE_CHECKING:  # the report module loads torch; commands import it when they run
    from visim.bench.report import TableReport

WIDE_LOG = 220  # characters per line of a table written to a file or pipe


def progress_printer() -> Callable[[str], None]:
    """One line per event on stderr, so that stdout holds the table alone."""
    console = Console(stderr=True, emoji=False)
    return lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True)


@contextmanager
def work_directory() -> Iterator[Path]:
    """Where cases keep their runs and logs while the benchmark runs; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="visim-bench-") as path:
        yield Path(path)


def repeat_command(subcommand: str, options: dict[str, object]) -> str:
    """`visim bench SUBCOMMAND --option value ...` with every resolved value spelled out."""
    words = ["visim", "bench", subcommand]
    for name, value in options.items():
        if isinstance(value, bool):
            words.append(f"--{name}" if value else f"--no-{name}")
        elif value is not None:
            words += [f"--{name}", str(value)]
    return shlex.join(words)


def publish(report: TableReport, json_out: Path | None, markdown_out: Path | None) -> None:
    """Print the table and findings; write the files asked for; exit 1 if nothing ran."""
    console = Console(emoji=False)
    if not console.is_terminal:  # a log file: room for every column instead of 80
        console = Console(width=WIDE_LOG, emoji=False)
    console.print(report.rich_table())
    for line in report.findings:
        console.print(f"- {line}", highlight=False, markup=False)
    report.write(json_out, markdown_out)
    if not any(row["status"] == "ok" for row in report.rows):
        raise fail("no case could be measured; see the notes column", EXIT_NOTHING_MEASURED)
