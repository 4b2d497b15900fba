"""The loaders' GPU routes: FFCV to CUDA with the compiled colour stage, DALI's mixed decoding.

CUDA only: skipped without a device (scripts/gpu-check.sh runs them on a GPU machine); the
FFCV and DALI tests also need their extras.
"""

import numpy as np
import pytest
import torch

from tests.pipeline import loader_contract as contract
from visim.pipeline.augment.batched import (
    augment_colors_and_normalize,
    color_and_normalize,
    sample_color_params,
)
from visim.pipeline.augment.compiled_color_stage import CompiledColorStage
from visim.pipeline.augment.recipe import AugmentationRecipe, recipe_preset
from visim.pipeline.backends.loader_spec import LoaderSpec

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.timeout(600),
]

RECIPE = AugmentationRecipe(size=32, solarize_prob=0.2)
# About 20 ms of GPU time per call: enough for the host to run several batches ahead.
GPU_DELAY_CYCLES = 40_000_000


def test_a_bare_cuda_device_is_indexed_for_loaders_and_generators():
    spec = LoaderSpec(source="unused", recipe=RECIPE, batch_size=4, device=torch.device("cuda"))
    assert spec.device == torch.device("cuda", torch.cuda.current_device())
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, device=spec.device)
    # A generator made for "cuda" reports "cuda"; the images say "cuda:0".
    out = augment_colors_and_normalize(images, RECIPE, torch.Generator(device="cuda"))
    assert out.device == spec.device


def test_the_inductor_color_stage_equals_the_eager_one_on_the_gpu():
    recipe = recipe_preset("imagenet", size=96, solarize_prob=0.2)
    stage = CompiledColorStage(recipe)
    generator = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(3):
        images = torch.randint(0, 256, (16, 3, 96, 96), dtype=torch.uint8, device="cuda")
        params = sample_color_params(16, recipe, generator)
        out = stage(images, params)
        expected = color_and_normalize(images, params, recipe)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-4)
    assert not stage.eager, "the stage fell back to eager: inductor failed on this machine"


@pytest.fixture(scope="module")
def level_beton(tmp_path_factory):
    """A .beton of 64 flat images, image i filled with level 3 i + 10 and labelled i: any crop,
    flip or resize of it stays that level, so a view says which sample it came from."""
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    from visim.pipeline.convert.to_beton import WriteSettings, convert_source
    from visim.pipeline.sources.arrays import ArraySource

    labels = np.arange(64, dtype=np.int64)
    levels = (3 * labels + 10).astype(np.uint8)
    images = np.broadcast_to(levels[:, None, None, None], (64, 40, 40, 3))
    source = ArraySource(
        np.ascontiguousarray(images), labels, [str(i) for i in labels],
        format="npz", location="<levels>", split="train", item_prefix="x",
    )  # fmt: skip
    path = tmp_path_factory.mktemp("cuda") / "levels.beton"
    convert_source(source, path, WriteSettings(workers=1, write_mode="raw"))
    return path


def ffcv_loader(beton, recipe: AugmentationRecipe):
    from visim.pipeline.backends.ffcv.loader import FFCVTwoViewLoader

    spec = LoaderSpec(source=beton, recipe=recipe, batch_size=8, device="cuda", workers=2)
    return FFCVTwoViewLoader(spec)


def test_ffcv_to_cuda_meets_the_loader_contract_through_the_compiled_color_stage(level_beton):
    loader = ffcv_loader(level_beton, RECIPE)
    contract.check_batch_contract(loader)
    from visim.pipeline.augment.compiled_color_stage import compiled_color_stage

    assert not compiled_color_stage(RECIPE).eager


def test_ffcv_buffers_are_not_rewritten_while_the_gpu_still_reads_them(level_beton):
    """The host runs ahead of a GPU slowed on purpose, with no sync, for three epochs: every
    view must still hold its own sample's level, and every label its sample."""
    recipe = contract.identity_recipe(RECIPE)  # views keep the flat level exactly
    loader = ffcv_loader(level_beton, recipe)
    mean = torch.tensor(recipe.mean, device="cuda").reshape(1, 3, 1, 1)
    std = torch.tensor(recipe.std, device="cuda").reshape(1, 3, 1, 1)
    kept = []
    for epoch in range(3):
        loader.set_epoch(epoch)
        for batch in loader:
            torch.cuda._sleep(GPU_DELAY_CYCLES)  # the reads below queue behind this
            levels = [(v * std + mean) * 255 for v in (batch.view1, batch.view2)]
            kept.append((batch.label.clone(), [level.mean(dim=(1, 2, 3)) for level in levels]))
    torch.cuda.synchronize()
    for labels, views in kept:
        expected = (3 * labels + 10).to(torch.float32)
        for view in views:
            torch.testing.assert_close(view, expected, rtol=0, atol=0.6)
    assert len(kept) == 3 * len(loader)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    pytest.importorskip("nvidia.dali", reason="the dali extra is not installed")
    from PIL import Image

    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    for i in range(24):
        (root / f"{i:03d}").mkdir()
        pixels = rng.integers(0, 256, size=(48 + 8 * (i % 3), 40, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"{i:03d}" / "image.jpg", quality=95)
    return root


def test_dali_decodes_on_the_gpu_and_keeps_one_pipeline_across_epochs(image_folder):
    from visim.pipeline.backends.dali.loader import DALITwoViewLoader

    spec = LoaderSpec(source=image_folder, recipe=RECIPE, batch_size=4, device="cuda", workers=2)
    loader = DALITwoViewLoader.from_spec(spec)
    assert loader.gpu
    contract.check_batch_contract(loader)
    labels = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        labels.append(torch.cat([batch.label.cpu() for batch in loader]))
    assert loader.pipelines_built == 1
    assert sorted(labels[1].tolist()) == sorted(labels[0].tolist())
