"""The batched colour stage: parameter sampling, application against torchvision, entry point."""

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from visim.pipeline.augment.batched import (
    apply_color_params,
    augment_colors_and_normalize,
    sample_color_params,
)
from visim.pipeline.augment.recipe import AugmentationRecipe

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
RECIPE = AugmentationRecipe(size=16, solarize_prob=0.3)


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def generator_on(device: str, seed: int = 0) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def test_decisions_fire_at_the_recipe_rates_and_factors_stay_in_range():
    n = 20_000
    params = sample_color_params(n, RECIPE, generator_on("cpu"))
    for name, p in [
        ("jitter", RECIPE.jitter_prob),
        ("grayscale", RECIPE.grayscale_prob),
        ("blur", RECIPE.blur_prob),
        ("solarize", RECIPE.solarize_prob),
    ]:
        rate = getattr(params, name).float().mean().item()
        assert abs(rate - p) <= 5 * math.sqrt(p * (1 - p) / n), f"{name}: rate {rate}, p {p}"
    for name, low, high in [
        ("brightness", 1 - RECIPE.brightness, 1 + RECIPE.brightness),
        ("contrast", 1 - RECIPE.contrast, 1 + RECIPE.contrast),
        ("saturation", 1 - RECIPE.saturation, 1 + RECIPE.saturation),
        ("hue", -RECIPE.hue, RECIPE.hue),
        ("blur_sigma", *RECIPE.blur_sigma),
    ]:
        values = getattr(params, name)
        assert values.min() >= low and values.max() <= high, name
        assert values.min() < low + 0.01 * (high - low), f"{name} misses the low end"
        assert values.max() > high - 0.01 * (high - low), f"{name} misses the high end"


def test_jitter_orders_are_uniform_random_permutations():
    n = 20_000
    order = sample_color_params(n, RECIPE, generator_on("cpu")).jitter_order
    assert torch.equal(order.sort(dim=1).values, torch.arange(4).expand(n, 4))
    sigma = math.sqrt(0.25 * 0.75 / n)
    for position in range(4):
        for op in range(4):
            rate = (order[:, position] == op).float().mean().item()
            assert abs(rate - 0.25) <= 5 * sigma, f"op {op} at position {position}: {rate}"


def test_strengths_of_zero_give_identity_factors():
    recipe = RECIPE.replace(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0)
    params = sample_color_params(100, recipe, generator_on("cpu"))
    for name in ("brightness", "contrast", "saturation"):
        assert torch.equal(getattr(params, name), torch.ones(100))
    assert torch.equal(params.hue, torch.zeros(100))


def torchvision_reference(image, params, i, recipe):
    """One sample through torchvision's functional ops with the batch's parameters."""
    adjust = [TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue]
    if params.jitter[i]:
        for op in params.jitter_order[i].tolist():
            image = adjust[op](image, params.factors[i, op].item())
    if params.grayscale[i]:
        image = TF.rgb_to_grayscale(image, 3)
    if params.blur[i]:
        sigma = params.blur_sigma[i].item()
        image = TF.gaussian_blur(image, [recipe.blur_kernel_size] * 2, [sigma, sigma])
    if params.solarize[i]:
        image = TF.solarize(image, recipe.solarize_threshold)
    return image


@pytest.mark.parametrize(
    "recipe",
    [RECIPE, RECIPE.replace(hue=0.0), RECIPE.replace(size=64, blur_prob=1.0)],
    ids=["full", "no-hue", "always-blur-k7"],
)
def test_color_stage_matches_torchvision_sample_by_sample(device, recipe):
    n = 32
    images = torch.rand(n, 3, recipe.size, recipe.size, generator=torch.Generator().manual_seed(1))
    images = images.to(device)
    params = sample_color_params(n, recipe, generator_on(device))
    out = apply_color_params(images, params, recipe)
    for i in range(n):
        expected = torchvision_reference(images[i], params, i, recipe)
        # Hue goes through HSV, whose round trip differs from torchvision's in the last bits.
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-5, msg=f"sample {i}")


def test_entry_point_normalises_into_channels_last_float32(device):
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8, device=device)
    out = augment_colors_and_normalize(images, RECIPE, generator_on(device))
    assert out.dtype == torch.float32 and out.shape == images.shape
    assert out.device == images.device
    assert out.is_contiguous(memory_format=torch.channels_last)
    mean = torch.tensor(RECIPE.mean, device=device).reshape(1, 3, 1, 1)
    std = torch.tensor(RECIPE.std, device=device).reshape(1, 3, 1, 1)
    unit = out * std + mean  # undo the normalisation: back in [0, 1]
    assert unit.min() >= -1e-5 and unit.max() <= 1 + 1e-5


def test_entry_point_is_reproducible_from_the_generator_seed(device):
    images = torch.rand(8, 3, 16, 16, device=device)
    first = augment_colors_and_normalize(images, RECIPE, generator_on(device, 5))
    again = augment_colors_and_normalize(images, RECIPE, generator_on(device, 5))
    other = augment_colors_and_normalize(images, RECIPE, generator_on(device, 6))
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    assert not torch.allclose(other, first)


def test_uint8_channels_last_and_unit_float_inputs_give_the_same_views():
    images = torch.randint(0, 256, (8, 3, 16, 16), dtype=torch.uint8)
    from_float = augment_colors_and_normalize(images.float() / 255, RECIPE, generator_on("cpu"))
    from_uint8 = augment_colors_and_normalize(images, RECIPE, generator_on("cpu"))
    # Loaders such as FFCV hand over uint8 views in channels_last memory.
    channels_last = images.contiguous(memory_format=torch.channels_last)
    from_channels_last = augment_colors_and_normalize(channels_last, RECIPE, generator_on("cpu"))
    torch.testing.assert_close(from_uint8, from_float, rtol=0, atol=1e-6)
    torch.testing.assert_close(from_channels_last, from_float, rtol=0, atol=1e-6)


def test_the_input_images_are_left_unmodified():
    images = torch.rand(8, 3, 16, 16)
    before = images.clone()
    augment_colors_and_normalize(images, RECIPE.replace(jitter_prob=1.0), generator_on("cpu"))
    assert torch.equal(images, before)


def test_recipe_without_color_ops_only_normalises():
    recipe = RECIPE.replace(jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0, solarize_prob=0.0)
    images = torch.rand(4, 3, 16, 16)
    out = augment_colors_and_normalize(images, recipe, generator_on("cpu"))
    torch.testing.assert_close(out, TF.normalize(images, recipe.mean, recipe.std))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        augment_colors_and_normalize(torch.rand(3, 16, 16), RECIPE, generator_on("cpu"))
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match="generator is on"):
            augment_colors_and_normalize(torch.rand(2, 3, 8, 8), RECIPE, generator_on("cuda"))
