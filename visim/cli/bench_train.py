"""`visim bench train`: image pairs/s of the training loop per setting and loader backend."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from visim.cli.bench_common import (
    WIDE_LOG,
    progress_printer,
    publish,
    repeat_command,
    work_directory,
)
from visim.cli.failure import EXIT_BAD_INPUT, fail

if TYPE_CHECKING:
    from visim.bench.train.throughput import TrainBench

PROFILE_DEFAULT = "(default: the profile's)"


def _parsed(option: str, value: str | None, parse) -> object:
    return None if value is None else parse(option, value)


def _overrides(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def compile_arch_names(option: str, value: str) -> tuple[str, ...] | None:
    """--compile-archs: names, or 'all' (None: no restriction)."""
    from visim.bench.option_values import names  # loads torch

    return None if value == "all" else names(option, value)


def print_plan(bench: TrainBench) -> None:
    """--dry-run: each case with its estimate, in the order they would run, and the total."""
    from visim.bench.train.throughput import plan  # loads torch

    prepare, cases = plan(bench)
    console = Console(width=WIDE_LOG, highlight=False, emoji=False)
    if prepare:
        console.print(f"  {prepare:6.0f} s  preparing the real backends' data", markup=False)
    for i, planned in enumerate(cases, start=1):
        note = f"   ({planned.note})" if planned.note else ""
        line = f"  {planned.seconds:6.0f} s  [{i}] {planned.case.describe()}{note}"
        console.print(line, markup=False)
    total = prepare + sum(p.seconds for p in cases if p.fits)
    budget = bench.time_budget_s
    left_out = sum(not p.fits for p in cases)
    summary = f"estimated {total:.0f} s in all"
    if budget is not None:
        summary += f" of a {budget:.0f} s budget; {left_out} cases would not fit"
    console.print(summary, markup=False)


def train(
    profile: str = typer.Option(
        "auto", help="Preset: cpu, gpu, or auto (gpu where CUDA is available)."
    ),
    methods: str | None = typer.Option(
        None, help=f"Comma-separated: simsiam, vi-simsiam {PROFILE_DEFAULT}."
    ),
    archs: str | None = typer.Option(None, help=f"Comma-separated ResNets {PROFILE_DEFAULT}."),
    precisions: str | None = typer.Option(
        None, help=f"Comma-separated: fp32, bf16, fp16, auto {PROFILE_DEFAULT}."
    ),
    channels_last: str | None = typer.Option(
        None, help=f"on, off, or both as on,off {PROFILE_DEFAULT}."
    ),
    compile: str | None = typer.Option(
        None, help=f"torch.compile: on, off, or both as off,on {PROFILE_DEFAULT}."
    ),
    compile_archs: str | None = typer.Option(
        None,
        help="Comma-separated archs measured with torch.compile on, at the first --channels-last "
        f"value; 'all': wherever the sweep puts it {PROFILE_DEFAULT}.",
    ),
    backends: str | None = typer.Option(
        None, help=f"Comma-separated loader backends, synthetic included {PROFILE_DEFAULT}."
    ),
    sweep: str | None = typer.Option(
        None,
        help="cross: every combination of the values above; one-at-a-time: the first values "
        f"as baseline, then one change at a time {PROFILE_DEFAULT}.",
    ),
    real_data_at: str | None = typer.Option(
        None,
        help="fastest: real backends at each method and arch's fastest synthetic setting; "
        f"all: at every setting {PROFILE_DEFAULT}.",
    ),
    size: int | None = typer.Option(None, help=f"Crop size in px {PROFILE_DEFAULT}."),
    recipe: str | None = typer.Option(
        None, help=f"Augmentation preset: imagenet, cifar, small {PROFILE_DEFAULT}."
    ),
    cifar_stem: bool | None = typer.Option(
        None, "--cifar-stem/--no-cifar-stem", help=f"3x3 stem, no max-pool {PROFILE_DEFAULT}."
    ),
    batch_size: int | None = typer.Option(None, help=f"Images per step {PROFILE_DEFAULT}."),
    window_steps: int | None = typer.Option(
        None, help=f"Steps per timed window, every precision {PROFILE_DEFAULT}."
    ),
    windows: int | None = typer.Option(
        None, help=f"Timed windows after the warm-up window {PROFILE_DEFAULT}."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    workers: int | None = typer.Option(
        None, help="Loader workers of the real backends (default: all cores; on a CPU all but one)."
    ),
    data: str | None = typer.Option(
        None,
        help="What the real backends read: an image folder, IDX, CIFAR, .npz or demo:N "
        "(default: a demo set large enough that no run crosses an epoch end).",
    ),
    beton: Path | None = typer.Option(
        None, help="FFCV's .beton of DATA, made from it when missing or stale."
    ),
    case_timeout: float = typer.Option(900.0, help="Seconds one case may take in all."),
    time_budget: float | None = typer.Option(
        None,
        help="Seconds the whole bench may take: a case whose estimate no longer fits is "
        "skipped and reported as such (default: no limit).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print the cases, their estimated seconds and the total; run none."
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    markdown_out: Path | None = typer.Option(
        None, "--markdown", help="Write the results, method and machine as Markdown here."
    ),
) -> None:
    """Image pairs/s of the training loop per setting and backend, and the data stall.

    Every setting trains on synthetic data first, then each real backend on the same images
    at the chosen settings; data stall = 1 - real / synthetic.
    """
    options = dict(locals())  # first: exactly the options
    from visim.bench.report import measurement_environment  # loads torch
    from visim.bench.train.report import train_report
    from visim.bench.train.throughput import run_train_bench

    environment = measurement_environment()
    try:
        profile_name, bench = chosen_bench(options)
    except ValueError as error:  # SourceError and PrecisionError are ValueErrors too
        raise fail(str(error), EXIT_BAD_INPUT) from None
    command = repeat_command("train", bench_options(profile_name, bench, options))
    if dry_run:
        print_plan(bench)
        return
    with work_directory() as workdir:
        rows = run_train_bench(bench, workdir, progress_printer())
    publish(train_report(bench, rows, command, environment), json_out, markdown_out)


def chosen_bench(options: dict[str, Any]) -> tuple[str, TrainBench]:
    """(the profile's name, the benchmark `visim bench train` options ask for): the profile's
    settings with each option given in their place; ValueError naming an option at fault."""
    from visim.bench.option_values import (  # loads torch
        check_precisions,
        check_run_options,
        names,
        resolve_device,
        switches,
    )
    from visim.bench.train.profiles import TRAIN_PROFILES, resolve_profile
    from visim.bench.train.throughput import TrainBench
    from visim.pipeline.backends.loader_workers import default_loader_workers
    from visim.pipeline.sources.base import AUTO_SPLIT
    from visim.pipeline.sources.factory import open_split

    profile_name = resolve_profile(options["profile"])
    base = TRAIN_PROFILES[profile_name]
    axes = dataclasses.replace(
        base.axes,
        **_overrides(
            {
                "method": _parsed("--methods", options["methods"], names),
                "arch": _parsed("--archs", options["archs"], names),
                "precision": _parsed("--precisions", options["precisions"], names),
                "channels_last": _parsed("--channels-last", options["channels_last"], switches),
                "compile": _parsed("--compile", options["compile"], switches),
            }
        ),
    )
    compile_archs = options["compile_archs"]
    chosen = dataclasses.replace(
        base,
        axes=axes,
        **_overrides(
            {
                "backends": _parsed("--backends", options["backends"], names),
                **{
                    name: options[name]
                    for name in (
                        "sweep",
                        "real_data_at",
                        "size",
                        "recipe",
                        "cifar_stem",
                        "batch_size",
                        "windows",
                        "window_steps",
                    )
                },  # fmt: skip
                # One length for every precision when given.
                "bf16_window_steps": options["window_steps"],
                "compile_archs": _parsed("--compile-archs", compile_archs, compile_arch_names),
            }
        ),
    )
    if compile_archs == "all":
        chosen = dataclasses.replace(chosen, compile_archs=None)
    device_name = resolve_device(options["device"], planning=options["dry_run"])
    check_precisions(chosen.axes.precision, device_name)
    # A dry run plans for the machine it names (--device cuda from a laptop): its
    # --workers are that machine's, not this one's.
    checked_backends = () if options["dry_run"] else chosen.backends
    workers = options["workers"]
    check_run_options(workers, options["case_timeout"], options["time_budget"], checked_backends)
    if options["data"] is not None:
        open_split(options["data"], AUTO_SPLIT)  # a mistyped DATA fails here, not in every case
    bench = TrainBench(
        profile=chosen,
        device=device_name,
        workers=default_loader_workers(device_name) if workers is None else workers,
        data=options["data"],
        beton=options["beton"],
        case_timeout_s=options["case_timeout"],
        time_budget_s=options["time_budget"],
    )
    return profile_name, bench


def bench_options(profile_name: str, bench: TrainBench, options: dict[str, Any]) -> dict:
    """The options that repeat `bench` exactly, for the report's command line."""
    from visim.bench.option_values import switches_text  # loads torch

    p = bench.profile
    return {
        "profile": profile_name,
        "methods": ",".join(p.axes.method),
        "archs": ",".join(p.axes.arch),
        "precisions": ",".join(p.axes.precision),
        "channels-last": switches_text(p.axes.channels_last),
        "compile": switches_text(p.axes.compile),
        "compile-archs": ",".join(p.compile_archs) if p.compile_archs else "all",
        "backends": ",".join(p.backends),
        "sweep": p.sweep,
        "real-data-at": p.real_data_at,
        "size": p.size,
        "recipe": p.recipe,
        "cifar-stem": p.cifar_stem,
        "batch-size": p.batch_size,
        "window-steps": options["window_steps"],
        "windows": p.windows,
        "device": bench.device,
        "workers": bench.workers,
        "data": options["data"],
        "beton": options["beton"],
        "time-budget": options["time_budget"],
    }
