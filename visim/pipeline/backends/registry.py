"""Pick a two-view loader by name, with a clear error when its extra is missing.

The registry itself imports nothing heavy (the command line reads it for --help); torch and
each backend's extra are imported when a loader is checked or built.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from visim.pipeline.backends.loader_spec import LoaderSpec, TwoViewLoader

FFCV_SYSTEM_PACKAGES = (
    "apt-get install -y --no-install-recommends pkg-config libopencv-dev libturbojpeg0-dev"
)


class MissingExtraError(RuntimeError):
    """A backend's optional dependency is not installed; the message says how to get it."""


@dataclass(frozen=True)
class Backend:
    name: str
    module: str  # where the loader class lives, imported only when used
    loader_class: str
    requires: str | None  # the importable module of its extra, if any
    install_hint: str  # the exact command that makes it usable
    reads: str  # what DATA it takes, for --help and errors


BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend(
            "ffcv",
            "visim.pipeline.backends.ffcv.loader",
            "FFCVTwoViewLoader",
            "ffcv",
            f"{FFCV_SYSTEM_PACKAGES} && pip install 'visim[ffcv]'",
            "a .beton written by `visim convert`",
        ),
        Backend(
            "dali",
            "visim.pipeline.backends.dali.loader",
            "DALITwoViewLoader",
            "nvidia.dali",
            "pip install 'visim[dali]'   (CUDA 12 drivers: 'visim[dali-cu12]')",
            "an image folder, IDX, CIFAR or .npz source, or 'demo'",
        ),
        Backend(
            "torch",
            "visim.pipeline.backends.torch",
            "TorchTwoViewLoader",
            None,
            "",
            "an image folder, IDX, CIFAR or .npz source, or 'demo'",
        ),
        Backend(
            "synthetic",
            "visim.pipeline.backends.synthetic",
            "SyntheticTwoViewLoader",
            None,
            "",
            "nothing (random tensors on the device)",
        ),
    )
}


def get_backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}") from None


def missing_extra(backend: Backend) -> str | None:
    """None when the backend's extra imports here, else the command that fixes it.

    It really imports the extra: FFCV can be installed yet fail to load when the system
    libraries its extension links against are missing.
    """
    if backend.requires is None:
        return None
    from visim.pipeline.torch_threads import kept_torch_threads

    try:
        with kept_torch_threads():  # importing ffcv sets them to 1
            importlib.import_module(backend.requires)
    except Exception as error:  # ImportError, or OSError from a missing shared library
        if isinstance(error, ModuleNotFoundError) and error.name == backend.requires:
            return backend.install_hint
        return f"{backend.install_hint}   (import failed: {error})"
    return None


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
