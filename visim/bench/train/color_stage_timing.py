"""What the GPU colour stage costs per training step, eager and compiled, timed on the device.

The ffcv backend on a GPU runs the colour stage (augment.batched) on both views of every
batch, in the training process, on the training stream: its time adds to every step. It is
timed here on uint8 crops of the benchmark's size and batch, with the parameters drawn per
batch as the loader draws them, after warm-up calls (the compiled stage compiles in the
first); on CUDA with device events, elsewhere with the host clock after a sync.
"""

from __future__ import annotations

import time

import torch

from visim.pipeline.augment.batched import augment_colors_and_normalize
from visim.pipeline.augment.compiled_color_stage import CompiledColorStage, compiled_color_stage
from visim.pipeline.augment.recipe import VIEWS, AugmentationRecipe

WARMUP_CALLS = 3


def _milliseconds_per_step(run, device: torch.device, repeats: int) -> float:
    for _ in range(WARMUP_CALLS):
        run()
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(repeats):
            run()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / repeats
    began = time.perf_counter()
    for _ in range(repeats):
        run()
    return (time.perf_counter() - began) * 1000 / repeats


def time_color_stage(
    recipe: AugmentationRecipe,
    batch_size: int,
    device: torch.device,
    repeats: int = 10,
    compiled: CompiledColorStage | None = None,
) -> dict:
    """{color_stage_ms, color_stage_eager_ms: per step (both views), color_stage_compiled:
    whether the compiled stage really ran compiled}. compiled: the stage to time (default:
    this process's compiled_color_stage for the recipe)."""
    compiled = compiled or compiled_color_stage(recipe)
    generator = torch.Generator(device=device).manual_seed(0)
    views = torch.randint(
        0, 256, (VIEWS, batch_size, 3, recipe.size, recipe.size), dtype=torch.uint8,
        generator=generator, device=device,
    )  # fmt: skip

    def step(stage):
        return lambda: [augment_colors_and_normalize(v, recipe, generator, stage) for v in views]

    return {
        "color_stage_eager_ms": _milliseconds_per_step(step(None), device, repeats),
        "color_stage_ms": _milliseconds_per_step(step(compiled), device, repeats),
        "color_stage_compiled": not compiled.eager,
    }
