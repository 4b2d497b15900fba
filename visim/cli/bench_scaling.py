"""`visim bench scaling`: time per epoch and peak memory as the data set and batch grow."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import typer

from visim.cli.bench_common import (
    progress_printer,
    publish,
    repeat_command,
    work_directory,
)
from visim.cli.failure import EXIT_BAD_INPUT, fail

PROFILE_DEFAULT = "(default: the profile's)"


def scaling(
    profile: str = typer.Option(
        "auto", help="Preset: cpu, gpu, or auto (gpu where CUDA is available)."
    ),
    sizes: str | None = typer.Option(
        None, help=f"Comma-separated data set sizes (images per epoch) {PROFILE_DEFAULT}."
    ),
    batch_sizes: str | None = typer.Option(
        None, help=f"Comma-separated batch sizes {PROFILE_DEFAULT}."
    ),
    backend: str | None = typer.Option(
        None, help=f"Loader backend reading demo sets of each size {PROFILE_DEFAULT}."
    ),
    method: str | None = typer.Option(None, help=f"simsiam or vi-simsiam {PROFILE_DEFAULT}."),
    arch: str | None = typer.Option(None, help=f"ResNet {PROFILE_DEFAULT}."),
    precision: str | None = typer.Option(None, help=f"fp32, bf16, fp16, auto {PROFILE_DEFAULT}."),
    channels_last: bool | None = typer.Option(
        None, "--channels-last/--no-channels-last", help=PROFILE_DEFAULT
    ),
    compile: bool | None = typer.Option(
        None, "--compile/--no-compile", help=f"torch.compile {PROFILE_DEFAULT}."
    ),
    size: int | None = typer.Option(None, help=f"Crop size in px {PROFILE_DEFAULT}."),
    recipe: str | None = typer.Option(
        None, help=f"Augmentation preset: imagenet, cifar, small {PROFILE_DEFAULT}."
    ),
    cifar_stem: bool | None = typer.Option(
        None, "--cifar-stem/--no-cifar-stem", help=f"3x3 stem, no max-pool {PROFILE_DEFAULT}."
    ),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    workers: int | None = typer.Option(
        None, help="Loader workers (default: all cores; on a CPU all but one)."
    ),
    case_timeout: float = typer.Option(900.0, help="Seconds one case may take in all."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    markdown_out: Path | None = typer.Option(
        None, "--markdown", help="Write the results, method and machine as Markdown here."
    ),
) -> None:
    """Time per epoch and peak memory as the data set and the batch grow.

    One epoch per data set size x batch size; the table gives each cost's growth per doubling.
    """
    # These load torch: imported once the options are parsed.
    from visim.bench.option_values import (
        check_precisions,
        check_run_options,
        integers,
        resolve_device,
    )
    from visim.bench.report import measurement_environment
    from visim.bench.scaling.report import scaling_report
    from visim.bench.scaling.runner import ScalingBench, run_scaling_bench
    from visim.bench.train.profiles import SCALING_PROFILES, resolve_profile
    from visim.pipeline.backends.loader_workers import default_loader_workers

    environment = measurement_environment()
    try:
        chosen_profile = resolve_profile(profile)
        values: dict[str, Any] = {
            "dataset_sizes": None if sizes is None else integers("--sizes", sizes),
            "batch_sizes": None if batch_sizes is None else integers("--batch-sizes", batch_sizes),
            "backend": backend,
            "method": method,
            "arch": arch,
            "precision": precision,
            "channels_last": channels_last,
            "compile": compile,
            "size": size,
            "recipe": recipe,
            "cifar_stem": cifar_stem,
        }
        chosen = dataclasses.replace(
            SCALING_PROFILES[chosen_profile],
            **{name: value for name, value in values.items() if value is not None},
        )
        device_name = resolve_device(device)
        check_precisions((chosen.precision,), device_name)
        check_run_options(workers, case_timeout, backends=(chosen.backend,))
    except ValueError as error:
        raise fail(str(error), EXIT_BAD_INPUT) from None
    bench = ScalingBench(
        profile=chosen,
        device=device_name,
        workers=default_loader_workers(device_name) if workers is None else workers,
        case_timeout_s=case_timeout,
    )

    p = bench.profile
    command = repeat_command(
        "scaling",
        {
            "profile": chosen_profile,
            "sizes": ",".join(map(str, p.dataset_sizes)),
            "batch-sizes": ",".join(map(str, p.batch_sizes)),
            "backend": p.backend,
            "method": p.method,
            "arch": p.arch,
            "precision": p.precision,
            "channels-last": p.channels_last,
            "compile": p.compile,
            "size": p.size,
            "recipe": p.recipe,
            "cifar-stem": p.cifar_stem,
            "device": bench.device,
            "workers": bench.workers,
        },
    )
    with work_directory() as workdir:
        rows = run_scaling_bench(bench, workdir, progress_printer())
    publish(scaling_report(bench, rows, command, environment), json_out, markdown_out)
