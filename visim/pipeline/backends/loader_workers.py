"""How many loader workers a process gets by default, and how many each backend can take.

One rule for every command that loads data (pretrain, eval, demo, the benchmarks): on a CPU
all the cores this process may use but one, which the training (or feature) step needs for
itself; with GPUs every core, shared among the processes on this machine. Measured on 2 cores
(VI-SimSiam, ResNet-18, 32 px): 2 ffcv workers slowed the CPU step by 31.5 %, 1 worker by
4.6 %, while dali lost 20-22 % with either.

What the backends accept: a torch DataLoader and DALI run any number of workers (more than
the cores only costs speed); FFCV runs its workers as numba threads, and numba refuses more
threads than the cores it was given (NUMBA_NUM_THREADS, by default the cores this process
may use). A default never exceeds that; a count asked for that does is a LoaderWorkersError.
"""

from __future__ import annotations

import os


class LoaderWorkersError(ValueError):
    """A worker count the backend cannot run here; the message says the most it can."""


def usable_cores() -> int:
    """The cores this process may run on (its affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_loader_workers(device_type: str, processes: int = 1, cores: int | None = None) -> int:
    """Workers per process: the cores per process with GPUs, all of them but one on a CPU.

    `processes` is how many processes share this machine's `cores` (one per GPU, or per CPU
    process); `cores` defaults to usable_cores().
    """
    per_process = max(1, (cores or usable_cores()) // max(1, processes))
    return per_process if device_type == "cuda" else max(1, per_process - 1)


def most_loader_workers(backend: str) -> int | None:
    """The most workers `backend` runs in this process; None where any count works."""
    from visim.pipeline.backends.registry import get_backend

    return get_backend(backend).most_workers()


def check_loader_workers(backend: str, workers: int) -> None:
    """LoaderWorkersError unless `backend` can run `workers` workers here."""
    most = most_loader_workers(backend)
    if most is not None and workers > most:
        raise LoaderWorkersError(
            f"the {backend} backend runs at most {most} workers here (one thread per core "
            f"this process may use, or NUMBA_NUM_THREADS); ask for {most} or fewer"
        )


def resolve_loader_workers(
    requested: int | None, backend: str, device_type: str, processes: int = 1
) -> int:
    """`requested` when set (checked against the backend), else the default, capped at what
    the backend runs here."""
    if requested is not None:
        check_loader_workers(backend, requested)
        return requested
    default = default_loader_workers(device_type, processes)
    most = most_loader_workers(backend)
    return default if most is None else min(default, most)
