"""Optional extras: whether one is usable here, and the command that makes it usable.

Every optional part of visim (a loader backend's library, the plots, Parquet, each experiment
tracker) is an Extra, checked the same way: its module really imported, because a package
can be installed yet fail to load (FFCV's extension without the system libraries it links).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Extra:
    """`pip install 'visim[name]'` makes `module` importable (after `system`, if any)."""

    name: str
    module: str
    system: str = ""  # a shell command installing what the extra builds or links against
    note: str = ""  # said after the command, e.g. another extra for other drivers

    @property
    def install_command(self) -> str:
        command = f"pip install 'visim[{self.name}]'"
        if self.system:
            command = f"{self.system} && {command}"
        return f"{command}   ({self.note})" if self.note else command


def missing(extra: Extra) -> str | None:
    """None when the extra's module imports here, else the command that fixes it, with the
    reason appended when the module is there but fails to load."""
    try:
        importlib.import_module(extra.module)
    except Exception as error:  # ImportError, or OSError from a missing shared library
        if isinstance(error, ModuleNotFoundError) and _names_the_module(error, extra.module):
            return extra.install_command
        return f"{extra.install_command}   (import failed: {error})"
    return None


def _names_the_module(error: ModuleNotFoundError, module: str) -> bool:
    """Whether the module itself (or a package above it) is what is not installed."""
    parts = module.split(".")
    return error.name in {".".join(parts[: i + 1]) for i in range(len(parts))}


PLOTS = Extra("plots", "matplotlib.figure")  # what the figures import
PARQUET = Extra("parquet", "pyarrow.parquet")
FFCV = Extra(
    "ffcv",
    "ffcv",
    system="apt-get install -y --no-install-recommends pkg-config libopencv-dev libturbojpeg0-dev",
)
DALI = Extra("dali", "nvidia.dali", note="CUDA 12 drivers: 'visim[dali-cu12]'")
# --log-with's trackers: each an extra of its own name.
TRACKERS = {name: Extra(name, name) for name in ("tensorboard", "wandb", "mlflow", "aim")}
