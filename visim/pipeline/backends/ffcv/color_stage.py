"""The recipe's colour stage as an FFCV operation, for loaders whose device is the CPU.

On the CPU, the batched torch colour stage makes a dozen passes over the whole batch per
view and dominates the loader's time; this operation instead runs color_view's row-at-a-time
numba code on the uint8 crops inside FFCV's reading thread, samples in parallel over the
loader's workers, right after the crop decoder and before ToTensor.

Randomness: view v of sample i draws from keyed_random's stream (stream key, i, v), where
the stream key is read once per batch from a callable the loader supplies (one per epoch),
so a batch replays exactly whatever thread runs each sample.

The operation declares jit_mode=False, so FFCV calls its code as plain Python: that is what
lets it ask for the stream key each batch, and color_view.augment_views, compiled once per
process, then does the work without the GIL. (Inside FFCV's own compiled stage the code
would be recompiled for every Loader and could read nothing that changes between epochs.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from ffcv.pipeline.allocation_query import AllocationQuery
from ffcv.pipeline.operation import Operation
from ffcv.pipeline.state import State

from visim.pipeline.augment.color_view_params import ColorSettings
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.ffcv.color_view import augment_views, params_shape, scratch_rows_shape


class RecipeColorStage(Operation):
    """Colour jitter, grayscale, blur and solarize of `recipe`, in place on uint8 crops.

    Takes uint8 [B, V, S, S, 3] (both views from one decoder) or [B, S, S, 3] (a pipeline
    per view: pass first_view=0 or 1 so the two pipelines draw different decisions).
    stream_key() -> int names the current stream (e.g. from the seed and epoch).
    """

    def __init__(
        self, recipe: AugmentationRecipe, stream_key: Callable[[], int], first_view: int = 0
    ) -> None:
        super().__init__()
        self.recipe = recipe
        self.stream_key = stream_key
        self.first_view = first_view

    def declare_state_and_memory(self, previous_state: State) -> tuple[State, tuple]:
        size = self.recipe.size
        shape = tuple(previous_state.shape)
        if previous_state.dtype != np.uint8 or shape[-3:] != (size, size, 3) or len(shape) > 4:
            raise ValueError(
                f"the colour stage takes uint8 crops [B, (views,) {size}, {size}, 3], "
                f"got {previous_state.dtype} {shape}"
            )
        views = shape[0] if len(shape) == 4 else 1
        kernel_size = self.recipe.blur_kernel_size
        return replace(previous_state, jit_mode=False), (
            AllocationQuery(params_shape(views), np.dtype(np.float64)),
            AllocationQuery(scratch_rows_shape(size, kernel_size), np.dtype(np.float32)),
            AllocationQuery((kernel_size,), np.dtype(np.float32)),
        )

    def generate_code(self) -> Callable:
        settings = ColorSettings.from_recipe(self.recipe)
        stream_key = self.stream_key
        first_view = self.first_view
        size = self.recipe.size

        def color(images, scratch, sample_ids):
            params, rows, weights = scratch
            views = images.reshape(len(sample_ids), -1, size, size, 3)  # a view of images
            key = np.uint64(stream_key())
            augment_views(views, sample_ids, first_view, key, settings, params, rows, weights)
            return images

        # FFCV then passes the batch's sample indices after the scratch memory.
        color.with_indices = True  # type: ignore[attr-defined]  # FFCV reads the flag here
        return color
