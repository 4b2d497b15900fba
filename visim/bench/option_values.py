"""Benchmark option values from the command line, checked with errors that name the option."""

from __future__ import annotations

import torch

from visim.bench.train.case import DEVICES
from visim.pipeline.backends.loader_workers import LoaderWorkersError, check_loader_workers
from visim.train.precision import PrecisionError, resolve_precision, training_device_info

SWITCHES = {"on": True, "off": False}


def names(option: str, value: str) -> tuple[str, ...]:
    """'a,b' -> ('a', 'b')."""
    items = tuple(item.strip() for item in value.split(","))
    if not all(items):
        raise ValueError(f"{option}: expected comma-separated names, got {value!r}")
    return items


def switches(option: str, value: str) -> tuple[bool, ...]:
    """'on,off' -> (True, False)."""
    items = names(option, value)
    unknown = [item for item in items if item not in SWITCHES]
    if unknown:
        raise ValueError(f"{option}: unknown {unknown[0]!r}; write on, off or on,off")
    return tuple(SWITCHES[item] for item in items)


def switches_text(values: tuple[bool, ...]) -> str:
    """(True, False) -> 'on,off': what switches() reads back."""
    return ",".join("on" if value else "off" for value in values)


def integers(option: str, value: str) -> tuple[int, ...]:
    """'256,512' -> (256, 512)."""
    items = names(option, value)
    if not all(item.isdigit() for item in items):
        raise ValueError(f"{option}: expected comma-separated whole numbers, got {value!r}")
    return tuple(int(item) for item in items)


def resolve_device(value: str, planning: bool = False) -> str:
    """'cpu' or 'cuda'; 'auto' is cuda where it is available. planning: nothing will run
    (--dry-run), so cuda may be named on a machine without it."""
    if value == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if value not in DEVICES:
        raise ValueError(f"--device must be auto, cpu or cuda, got {value!r}")
    if value == "cuda" and not torch.cuda.is_available() and not planning:
        raise ValueError("--device cuda: no CUDA device is visible here")
    return value


def check_precisions(precisions: tuple[str, ...], device: str) -> None:
    """ValueError for a precision the device cannot train in (fp16 on the CPU, say)."""
    info = training_device_info(cpu=device == "cpu")
    for precision in precisions:
        try:
            resolve_precision(precision, info)
        except PrecisionError as error:
            raise ValueError(str(error)) from None


def check_run_options(
    workers: int | None,
    case_timeout: float,
    time_budget: float | None = None,
    backends: tuple[str, ...] = (),
) -> None:
    """ValueError naming the option when --workers, --case-timeout or --time-budget cannot work
    here."""
    if workers is not None and workers < 0:
        raise ValueError(f"--workers must be at least 0, got {workers}")
    for backend in backends:
        try:
            if workers is not None:
                check_loader_workers(backend, workers)
        except LoaderWorkersError as error:
            raise ValueError(f"--workers {workers}: {error}") from None
    if case_timeout <= 0:
        raise ValueError(f"--case-timeout must be positive, got {case_timeout}")
    if time_budget is not None and time_budget <= 0:
        raise ValueError(f"--time-budget must be positive, got {time_budget}")
