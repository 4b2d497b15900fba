"""`visim info`: versions, devices and which loader backends work here."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table


def info(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show the environment: versions, CUDA devices and the loader backends usable here."""
    from visim.train.environment import environment_report  # loads torch, FFCV and DALI

    report = environment_report()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    console = Console(emoji=False)

    versions = Table(title="Versions", show_header=False)
    versions.add_row(
        "processor", f"{report['cpu_model'] or 'unknown'}, {report['cpu_count']} cores"
    )
    versions.add_row("python", report["python"])
    for label, version in report["packages"].items():
        versions.add_row(label, version or "[dim]not installed[/dim]")
    console.print(versions)

    devices = Table(title="CUDA devices")
    for column in ("index", "name", "memory (GiB)", "capability", "bf16"):
        devices.add_column(column)
    for d in report["cuda_devices"]:
        devices.add_row(
            str(d["index"]),
            d["name"],
            str(d["memory_gib"]),
            d["capability"],
            "yes" if d["bf16"] else "no",
        )
    if not report["cuda_devices"]:
        devices.add_row("-", "none: training runs on the CPU in float32", "", "", "")
    console.print(devices)

    backends = Table(title="Loader backends")
    for column in ("backend", "usable here", "reads", "notes, or how to make it usable"):
        backends.add_column(column)
    for name, b in report["backends"].items():
        usable = "[green]yes[/green]" if b["usable"] else "[red]no[/red]"
        how = escape(b["fix"]) if not b["usable"] else escape(b["note"]) or "-"
        backends.add_row(name, usable, escape(b["reads"]), how)
    console.print(backends)
