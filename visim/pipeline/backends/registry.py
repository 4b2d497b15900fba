"""Pick a two-view loader by name, with a clear error when its extra is missing.

The registry itself imports nothing heavy (the command line reads it for --help); torch and
each backend's extra are imported when a loader is checked or built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from visim.core import extras
from visim.pipeline.backends.ffcv.worker_limit import numba_threads

if TYPE_CHECKING:
    from visim.pipeline.backends.loader_spec import LoaderSpec, TwoViewLoader


class MissingExtraError(RuntimeError):
    """A backend's optional dependency is not installed; the message says how to get it."""


@dataclass(frozen=True)
class Backend:
    """Everything visim knows about one backend, so that no other module compares names."""

    name: str
    module: str  # where the loader class lives, imported only when used
    loader_class: str
    extra: extras.Extra | None  # what it needs beyond visim's own dependencies
    reads: str  # what DATA it takes, for --help and errors
    reads_beton: bool = False  # DATA must be a .beton written by `visim convert`
    reads_data: bool = True  # False: it makes its own samples, DATA is not read
    # The most workers it can run in this process (None: any number); called when asked.
    most_workers: Callable[[], int | None] = lambda: None
    cpu_note: str = ""  # how it runs on a machine without a CUDA device, for `visim info`


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "ffcv",
            "visim.pipeline.backends.ffcv.loader",
            "FFCVTwoViewLoader",
            extras.FFCV,
            "a .beton written by `visim convert`",
            reads_beton=True,
            most_workers=numba_threads,
            cpu_note="colour ops run on the CPU (they move to the GPU when one is present)",
        ),
        Backend(
            "dali",
            "visim.pipeline.backends.dali.loader",
            "DALITwoViewLoader",
            extras.DALI,
            "an image folder, IDX, CIFAR or .npz source, or 'demo'",
            cpu_note="CPU decoding and augmentation ('mixed' GPU decoding needs a CUDA device)",
        ),
        Backend(
            "torch",
            "visim.pipeline.backends.torch",
            "TorchTwoViewLoader",
            None,
            "an image folder, IDX, CIFAR or .npz source, or 'demo'",
        ),
        Backend(
            "synthetic",
            "visim.pipeline.backends.synthetic",
            "SyntheticTwoViewLoader",
            None,
            "nothing (random tensors on the device)",
            reads_data=False,
        ),
    )
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


def missing_extra(backend: Backend) -> str | None:
    """None when the backend's extra imports here (or it needs none), else the command that
    fixes it (extras.missing)."""
    if backend.extra is None:
        return None
    from visim.pipeline.torch_threads import kept_torch_threads

    with kept_torch_threads():  # importing ffcv sets them to 1
        return extras.missing(backend.extra)


def require_backend(name: str) -> Backend:
    """The backend, or MissingExtraError naming the command that installs it."""
    backend = get_backend(name)
    fix = missing_extra(backend)
    if fix is not None:
        raise MissingExtraError(f"backend {name!r} is not installed; run: {fix}")
    return backend


def make_loader(name: str, spec: LoaderSpec) -> TwoViewLoader:
    """Build the loader of backend `name` for this process."""
    backend = require_backend(name)
    module = importlib.import_module(backend.module)
    return getattr(module, backend.loader_class).from_spec(spec)
