"""The compiled colour stage computes what the eager one does, as one graph.

Here torch.compile runs with the aot_eager backend: Dynamo's capture and AOTAutograd's
functionalisation, executed by eager kernels (inductor's C++ build takes minutes on a small
CPU). The inductor build, as the GPU runs it, is compared in backends/test_cuda_routes.py.
"""

import warnings

import pytest
import torch
from torch._dynamo.testing import CompileCounterWithBackend

from visim.pipeline.augment.batched import (
    augment_colors_and_normalize,
    color_and_normalize,
    sample_color_params,
)
from visim.pipeline.augment.compiled_color_stage import CompiledColorStage, compiled_color_stage
from visim.pipeline.augment.recipe import recipe_preset

# Every op on: jitter with hue, grayscale, blur (its reflect padding needs 12 px) and solarize.
RECIPE = recipe_preset("imagenet", size=24, solarize_prob=0.3)


def random_batch(seed: int, batch: int = 6) -> tuple[torch.Tensor, object]:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch, 3, 24, 24), dtype=torch.uint8, generator=generator)
    return images, sample_color_params(batch, RECIPE, generator)


@pytest.fixture(scope="module")
def counted_stage():
    counter = CompileCounterWithBackend("aot_eager")
    stage = CompiledColorStage(RECIPE, backend=counter)
    return stage, counter


def test_the_compiled_stage_equals_the_eager_one_on_random_batches(counted_stage):
    stage, counter = counted_stage
    for seed in range(3):
        images, params = random_batch(seed)
        out = stage(images, params)
        expected = color_and_normalize(images, params, RECIPE)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
        assert out.is_contiguous(memory_format=torch.channels_last)
    assert not stage.eager
    # One graph for the whole stage (a break would bring eager passes back), compiled once
    # for every batch of the same shape.
    assert counter.frame_count == 1 and counter.op_count > 50


def test_augment_runs_the_given_stage_on_the_parameters_it_draws(counted_stage):
    stage, _ = counted_stage
    images, _ = random_batch(7)
    through_stage = augment_colors_and_normalize(
        images, RECIPE, torch.Generator().manual_seed(3), stage
    )
    eager = augment_colors_and_normalize(images, RECIPE, torch.Generator().manual_seed(3))
    torch.testing.assert_close(through_stage, eager, rtol=0, atol=1e-6)


def _failing_backend(graph, example_inputs):
    raise RuntimeError("no C++ compiler here")


def test_a_stage_that_cannot_compile_warns_once_and_runs_eagerly():
    stage = CompiledColorStage(RECIPE, backend=_failing_backend)
    images, params = random_batch(1)
    with pytest.warns(RuntimeWarning, match="could not be compiled.*no C\\+\\+ compiler"):
        out = stage(images, params)
    assert stage.eager
    torch.testing.assert_close(out, color_and_normalize(images, params, RECIPE), rtol=0, atol=0)
    with warnings.catch_warnings(record=True) as later:
        warnings.simplefilter("always")
        stage(*random_batch(2))
    assert not later  # once is enough


def test_each_recipe_has_one_stage_per_process():
    assert compiled_color_stage(RECIPE) is compiled_color_stage(RECIPE)
    other = recipe_preset("cifar")
    assert compiled_color_stage(other) is not compiled_color_stage(RECIPE)
    assert compiled_color_stage(other).recipe == other
