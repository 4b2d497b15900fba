"""What the pipeline benchmark can time: each loader backend, and FFCV in both two-view modes.

A contender is a loader backend plus the way it is built; `ffcv` is the backend exactly as
training builds it (its default two-view mode), `ffcv-decode-twice` the other mode, so the
default is chosen by a number measured beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from visim.pipeline.backends.registry import (
    get_backend,
    make_loader,
    missing_extra,
    require_backend,
)

if TYPE_CHECKING:  # the command line reads CONTENDERS for --help without loading torch
    from visim.pipeline.backends.loader_spec import LoaderSpec, TwoViewLoader

BASELINE = "torch"
Reads = Literal["folder", "beton", "nothing"]


@dataclass(frozen=True)
class Contender:
    name: str
    backend: str  # the visim loader backend it runs
    reads: Reads  # the image folder itself, the .beton converted from it, or no data
    build: Callable[[LoaderSpec], TwoViewLoader]
    forks_workers: bool = False  # starts worker processes with fork() (a torch DataLoader)


def _built_by_name(backend: str) -> Callable[[LoaderSpec], TwoViewLoader]:
    return lambda spec: make_loader(backend, spec)


def _ffcv_decoding_twice(spec: LoaderSpec) -> TwoViewLoader:
    require_backend("ffcv")
    from visim.pipeline.backends.ffcv.loader import FFCVTwoViewLoader

    return FFCVTwoViewLoader(spec, two_view_mode="decode-twice")


CONTENDERS: dict[str, Contender] = {
    c.name: c
    for c in (
        Contender("ffcv", "ffcv", "beton", _built_by_name("ffcv")),
        Contender("ffcv-decode-twice", "ffcv", "beton", _ffcv_decoding_twice),
        Contender("dali", "dali", "folder", _built_by_name("dali")),
        Contender("torch", "torch", "folder", _built_by_name("torch"), forks_workers=True),
        Contender("synthetic", "synthetic", "nothing", _built_by_name("synthetic")),
    )
}


def parse_contenders(text: str) -> list[Contender]:
    """'ffcv,torch' -> the contenders in that order; ValueError naming any unknown one."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError(f"--backends is empty; choose from {', '.join(CONTENDERS)}")
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown:
        raise ValueError(
            f"--backends: unknown backend(s) {', '.join(unknown)}; "
            f"choose from {', '.join(CONTENDERS)}"
        )
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"--backends names {', '.join(duplicated)} more than once")
    return [CONTENDERS[name] for name in names]


def missing_requirement(contender: Contender) -> str | None:
    """None when the contender's extra imports here, else why not and how to fix it."""
    fix = missing_extra(get_backend(contender.backend))
    return None if fix is None else f"not installed; run: {fix}"


def two_view_mode(loader: TwoViewLoader) -> str | None:
    """The FFCV loader's two-view mode, for the table; None for other backends."""
    return getattr(loader, "two_view_mode", None)
