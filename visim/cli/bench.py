"""`visim bench ...`: throughput benchmarks, each command in a module of its own."""

from __future__ import annotations

import typer

from visim.cli.bench_pipeline import pipeline
from visim.cli.bench_scaling import scaling
from visim.cli.bench_train import train

bench_app = typer.Typer(
    name="bench",
    help="Throughput benchmarks measured side by side, with the environment they ran on.",
    no_args_is_help=True,
)
bench_app.command()(pipeline)
bench_app.command()(train)
bench_app.command()(scaling)
