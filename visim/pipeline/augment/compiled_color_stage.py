"""The colour stage compiled for the GPU: the same function, fused into a few kernels.

Run eagerly, the colour stage is dozens of element-wise kernels over the whole batch (each
jitter step alone reads and writes every pixel several times, the hue rotation about fifteen
times), each going through device memory. torch.compile fuses every element-wise run between
two reductions (a contrast step's mean luma) or the blur's convolutions into one kernel that
reads its input once and writes its output once, and reads the uint8 crops directly instead of
a float copy of them. It computes the same function (tests compare both on random input).

One compiled function per recipe (the recipe's numbers are constants of the graph) and per
process, built at the first batch; every batch has the same shapes, so it compiles once. Where
compiling fails (no working compiler toolchain on the machine, say), the stage warns once and
stays eager: slower, never wrong.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from visim.pipeline.augment.batched import ColorParams, color_and_normalize
from visim.pipeline.augment.recipe import AugmentationRecipe

ColorStage = Callable[[torch.Tensor, ColorParams], torch.Tensor]

_STAGES: dict[AugmentationRecipe, CompiledColorStage] = {}


class CompiledColorStage:
    """color_and_normalize(images, params, recipe) for one recipe, compiled on first use."""

    def __init__(self, recipe: AugmentationRecipe, backend: str = "inductor") -> None:
        self.recipe = recipe
        self.backend = backend
        self._compiled: ColorStage | None = None
        self.eager = False  # True once compiling failed: the eager function is used from then on

    def _eager(self, images: torch.Tensor, params: ColorParams) -> torch.Tensor:
        return color_and_normalize(images, params, self.recipe)

    def __call__(self, images: torch.Tensor, params: ColorParams) -> torch.Tensor:
        if self.eager:
            return self._eager(images, params)
        if self._compiled is None:
            # fullgraph: a graph break would silently bring the eager passes back.
            self._compiled = torch.compile(
                self._eager, backend=self.backend, fullgraph=True, dynamic=False
            )
        try:
            return self._compiled(images, params)
        except Exception as error:  # compiler and toolchain failures have many types
            self.eager = True
            warnings.warn(
                f"the GPU colour stage could not be compiled ({_root_cause(error)}); "
                "it runs eagerly",
                RuntimeWarning,
                stacklevel=2,
            )
            return self._eager(images, params)


def _root_cause(error: BaseException) -> str:
    """'Type: first line' of the innermost exception: torch.compile wraps the real failure
    (as the cause, or as BackendCompilerFailed.inner_exception)."""
    while True:
        inner = error.__cause__ or getattr(error, "inner_exception", None)
        if not isinstance(inner, BaseException):
            break
        error = inner
    lines = str(error).splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def compiled_color_stage(recipe: AugmentationRecipe) -> CompiledColorStage:
    """This process's compiled colour stage for `recipe`."""
    if recipe not in _STAGES:
        _STAGES[recipe] = CompiledColorStage(recipe)
    return _STAGES[recipe]
