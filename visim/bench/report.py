"""A benchmark's record: one table of measured rows, what the table says, and the machine it
was measured on - written as a JSON document, a rich table and a Markdown page."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from visim.train.environment import environment_report

MISSING = "-"


def _unless_none(show: Callable[[Any], str]) -> Callable[[Any], str]:
    return lambda value: MISSING if value is None else show(value)


# How values are written in tables (JSON keeps the raw numbers).
rate = _unless_none(lambda v: f"{v:,.1f}" if v < 100 else f"{v:,.0f}")
percent = _unless_none(lambda v: f"{v:.1%}")
ratio = _unless_none(lambda v: f"x{v:.2f}")
seconds = _unless_none(lambda v: f"{v:.1f}")
mebibytes = _unless_none(lambda v: f"{v:,.0f}")
on_off = _unless_none(lambda v: "on" if v else "off")
text = _unless_none(str)


@dataclass(frozen=True)
class Column:
    key: str  # the row field shown
    header: str
    show: Callable[[Any], str] = text
    numeric: bool = True  # right-aligned


def measurement_environment() -> dict:
    """environment_report() plus the load average, which says how busy the machine was."""
    return {**environment_report(), "load_average": _load_average()}


def _load_average() -> list[float] | None:
    try:
        return [round(load, 2) for load in os.getloadavg()]
    except OSError:
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


@dataclass
class TableReport:
    benchmark: str  # "train", "scaling", ...
    title: str
    unit: str  # what the main figure counts
    columns: list[Column]
    rows: list[dict]
    findings: list[str]  # one line each: ratios, growth, targets
    method: list[str]  # how the figures were measured, one line each
    settings: dict
    command: str  # the command line that repeats the run
    environment: dict
    date: str = field(default_factory=_now)

    def to_json(self) -> dict:
        return {
            "benchmark": self.benchmark,
            "title": self.title,
            "unit": self.unit,
            "date": self.date,
            "command": self.command,
            "settings": self.settings,
            "findings": self.findings,
            "method": self.method,
            "rows": self.rows,
            "environment": self.environment,
        }

    def _cells(self, row: dict) -> list[str]:
        return [column.show(row.get(column.key)) for column in self.columns]

    def rich_table(self) -> Table:
        table = Table(title=f"{self.title} ({self.unit})")
        for column in self.columns:
            table.add_column(column.header, justify="right" if column.numeric else "left")
        for row in self.rows:
            style = "" if row.get("status", "ok") == "ok" else "dim"
            table.add_row(*(escape(cell) for cell in self._cells(row)), style=style)
        return table

    def markdown(self) -> str:
        def cell(value: str) -> str:
            return value.replace("|", "\\|").replace("\n", " ")

        align = ["---:" if column.numeric else "---" for column in self.columns]
        lines = [
            f"# {self.title}",
            "",
            f"{self.unit[0].upper()}{self.unit[1:]}; every row measured in one run ({self.date}).",
            "",
            "| " + " | ".join(cell(column.header) for column in self.columns) + " |",
            "|" + "|".join(align) + "|",
            *("| " + " | ".join(cell(c) for c in self._cells(row)) + " |" for row in self.rows),
            "",
            "## Findings",
            "",
            *(f"- {line}" for line in self.findings or ["nothing could be compared"]),
            "",
            "## How it was measured",
            "",
            *(f"- {line}" for line in self.method),
            "",
            "## Settings",
            "",
            *(f"- {name}: `{json.dumps(value)}`" for name, value in self.settings.items()),
            "",
            "## Machine",
            "",
            *(f"- {line}" for line in machine_lines(self.environment)),
            "",
            "## Repeat",
            "",
            "```",
            self.command,
            "```",
            "",
        ]
        return "\n".join(lines)

    def write(self, json_path: Path | None, markdown_path: Path | None) -> None:
        for path, content in (
            (json_path, lambda: json.dumps(self.to_json(), indent=2) + "\n"),
            (markdown_path, self.markdown),
        ):
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content())


def machine_lines(environment: dict) -> list[str]:
    """The environment (visim.train.environment) in a few readable lines."""
    env = environment
    devices = ", ".join(
        f"{d['name']} ({d['memory_gib']} GiB, capability {d['capability']})"
        for d in env["cuda_devices"]
    )
    lines = [
        f"{env['platform']}, {env.get('cpu_model') or 'CPU model unknown'}, "
        f"{env['cpu_count']} cores, Python {env['python']}",
        f"CUDA {env['cuda_version']}, driver {env.get('nvidia_driver') or 'unknown'}: {devices}"
        if devices
        else "CUDA: no device",
        ", ".join(f"{name} {version}" for name, version in env["packages"].items() if version),
        f"git commit {env['git_commit'] or 'unknown'}",
    ]
    if env.get("load_average"):
        lines.append(
            "load average (1, 5, 15 min) at the start: "
            + ", ".join(f"{load:g}" for load in env["load_average"])
        )
    return lines
