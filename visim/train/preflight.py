"""Every check that can fail before any work starts, each a one-line ConfigError.

Run by the process the user started, before any training process exists: an unknown or
uninstalled backend or tracker, more loader workers than the backend runs here, a DATA the
backend cannot read, a process count this machine cannot give, a batch size that does not
split over the processes, a precision the device lacks, or a RUN_DIR that already holds
another run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from visim.pipeline.backends.loader_workers import LoaderWorkersError, check_loader_workers
from visim.pipeline.backends.registry import MissingExtraError, get_backend, require_backend
from visim.pipeline.sources.base import AUTO_SPLIT, SourceError
from visim.pipeline.sources.beton_check import verify_before_use
from visim.pipeline.sources.factory import open_split
from visim.train.config import ConfigError, TrainConfig, option_name, validate
from visim.train.environment import cuda_devices
from visim.train.precision import PrecisionError, resolve_precision, training_device_info
from visim.train.run_dir import RunDir
from visim.train.run_storage import check_writable
from visim.train.tracker_extras import TrackerUnavailable, require_tracker


@dataclass(frozen=True)
class ProcessPlan:
    """How many training processes, on which kind of device, started by whom."""

    processes: int  # the world size
    cpu: bool
    # True: visim starts `processes` processes itself (--gpus N / --cpu-processes N, N > 1).
    # False: this process trains alone, or it is one of many started by `accelerate launch`.
    spawn: bool


def external_world_size() -> int | None:
    """The world size when an external launcher (accelerate launch, torchrun) started us."""
    if "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["WORLD_SIZE"])
    return None


def plan_processes(config: TrainConfig, cuda_count: int, launched_world: int | None) -> ProcessPlan:
    """The processes --gpus / --cpu-processes ask for on a machine with `cuda_count` GPUs.

    --cpu-processes N trains on the CPU in N processes (gloo), GPUs or not; --gpus N runs one
    process per GPU; neither means one process, on GPU 0 if there is one, else on the CPU.
    Under an external launcher the launcher decides the count, and both options are ignored.
    """
    runtime = config.runtime
    if launched_world is not None:
        cpu = runtime.cpu_processes > 0 or cuda_count == 0 or _accelerate_says_cpu()
        return ProcessPlan(launched_world, cpu, spawn=False)
    if runtime.cpu_processes:
        return ProcessPlan(runtime.cpu_processes, cpu=True, spawn=runtime.cpu_processes > 1)
    if runtime.gpus is None:
        return ProcessPlan(1, cpu=cuda_count == 0, spawn=False)
    if cuda_count == 0:
        raise ConfigError(
            f"--gpus {runtime.gpus}: no CUDA device is visible here; "
            f"use --cpu-processes {runtime.gpus} to run that many processes on the CPU"
        )
    if runtime.gpus > cuda_count:
        raise ConfigError(f"--gpus {runtime.gpus}: only {cuda_count} CUDA devices are visible")
    return ProcessPlan(runtime.gpus, cpu=False, spawn=runtime.gpus > 1)


def _accelerate_says_cpu() -> bool:
    # `accelerate launch --cpu` tells its processes through this variable.
    return os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")


def check_source(config: TrainConfig, warn: Callable[[str], None]) -> None:
    """ConfigError unless the backend can read DATA and it holds at least one global batch.

    A .beton is checked as `visim check` does (beton_check.verify_before_use): a damaged one
    stops the run before it starts; `warn` gets the line saying when its content was not
    verified.
    """
    backend, source = config.data.backend, config.data.source
    if not get_backend(backend).reads_data:
        _check_enough_samples(config.data.synthetic_samples, "[data] synthetic_samples", config)
        return
    if not source:
        raise ConfigError(f"DATA is required with --backend {backend}")
    path = Path(source).expanduser()
    if get_backend(backend).reads_beton and not (path.is_file() and path.suffix == ".beton"):
        raise ConfigError(
            f"DATA {source}: --backend {backend} reads a .beton file written by `visim convert`"
        )
    try:
        if path.suffix == ".beton" and path.is_file():
            verify_before_use(path, "DATA", warn)
        images = len(open_split(source, AUTO_SPLIT))
    except SourceError as error:
        # Most messages name the file already: it is named once.
        named = str(error).startswith(source)
        raise ConfigError(f"DATA {error}" if named else f"DATA {source}: {error}") from None
    _check_enough_samples(images, f"DATA {source}", config)


def _print_warning(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr, flush=True)


def check_workers(config: TrainConfig) -> None:
    """ConfigError naming --workers when the backend cannot run that many here."""
    workers = config.data.workers
    if workers is None:  # the default follows the machine and the backend
        return
    try:
        check_loader_workers(config.data.backend, workers)
    except LoaderWorkersError as error:
        raise ConfigError(f"{option_name('data.workers')} {workers}: {error}") from None


def _check_enough_samples(samples: int, what: str, config: TrainConfig) -> None:
    batch_size = config.optim.batch_size
    if samples < batch_size:
        raise ConfigError(f"{what}: {samples} samples, fewer than --batch-size {batch_size}")


def check_batch_split(batch_size: int, processes: int) -> None:
    if batch_size % processes or batch_size // processes < 2:
        raise ConfigError(
            f"--batch-size {batch_size} must split evenly into at least 2 samples per process "
            f"over {processes} processes (BatchNorm needs 2)"
        )


def preflight(config: TrainConfig, run_dir: RunDir, *, resume: bool) -> ProcessPlan:
    """Check everything checkable now; the plan of processes to start."""
    validate(config)
    try:
        require_backend(config.data.backend)
    except MissingExtraError as error:
        raise ConfigError(f"--backend {config.data.backend}: {error}") from None
    if config.runtime.log_with != "none":
        try:
            require_tracker(config.runtime.log_with)
        except TrackerUnavailable as error:
            raise ConfigError(str(error)) from None
    check_workers(config)
    # Under an external launcher every process runs these checks; only rank 0 writes the run.
    first_process = os.environ.get("RANK", "0") == "0"
    check_source(config, warn=_print_warning if first_process else lambda line: None)
    plan = plan_processes(config, len(cuda_devices()), external_world_size())
    check_batch_split(config.optim.batch_size, plan.processes)
    try:
        resolve_precision(config.runtime.precision, training_device_info(plan.cpu))
    except PrecisionError as error:
        raise ConfigError(str(error)) from None
    if config.runtime.sync_bn and plan.cpu:
        raise ConfigError("--sync-bn needs CUDA devices: SyncBatchNorm does not run on the CPU")
    if not resume and first_process and run_dir.holds_run():
        raise ConfigError(
            f"--out {run_dir.path} already holds a run; continue it with "
            f"--resume {run_dir.path}, or pick another --out"
        )
    if first_process:
        check_writable(run_dir)  # WriteFailed: the storage, not the options
    return plan
