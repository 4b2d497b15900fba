"""Each batched op equals torchvision's functional op applied to each sample alone."""

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from visim.pipeline.augment import batched_color_ops as ops

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
B = 12


@pytest.fixture(params=DEVICES)
def device(request) -> str:
    return request.param


def images_on(device: str, size: int = 16) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(B, 3, size, size, generator=generator)
    images[0] = 0.5  # a gray image: hue and saturation are undefined there
    images[1, :, :4] = 1.0  # saturated pixels: the clamp matters
    return images.to(device)


def per_sample(fn, images: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return torch.stack([fn(images[i], values[i].item()) for i in range(len(images))])


@pytest.mark.parametrize(
    "ours, theirs",
    [
        (ops.adjust_brightness, TF.adjust_brightness),
        (ops.adjust_contrast, TF.adjust_contrast),
        (ops.adjust_saturation, TF.adjust_saturation),
    ],
    ids=["brightness", "contrast", "saturation"],
)
def test_blend_ops_match_torchvision(device, ours, theirs):
    images = images_on(device)
    factors = torch.linspace(0.0, 2.0, B, device=device)
    expected = per_sample(theirs, images, factors)
    torch.testing.assert_close(ours(images, factors), expected, rtol=0, atol=1e-6)


def test_blend_step_mixes_ops_per_sample_and_no_op_is_exact(device):
    images = images_on(device)
    op = torch.tensor(
        [ops.JitterOp.BRIGHTNESS, ops.JitterOp.CONTRAST, ops.JitterOp.SATURATION, ops.NO_OP] * 3,
        device=device,
    )
    factors = torch.linspace(0.5, 1.5, B, device=device)
    out = ops.blend_step(images, op, factors)
    functional = {
        ops.JitterOp.BRIGHTNESS: TF.adjust_brightness,
        ops.JitterOp.CONTRAST: TF.adjust_contrast,
        ops.JitterOp.SATURATION: TF.adjust_saturation,
    }
    for i in range(B):
        op_id = int(op[i])
        if op_id == ops.NO_OP:
            assert torch.equal(out[i], images[i])
        else:
            expected = functional[op_id](images[i], factors[i].item())
            torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-6)


def test_hue_matches_torchvision(device):
    images = images_on(device)
    shifts = torch.linspace(-0.5, 0.5, B, device=device)
    expected = per_sample(TF.adjust_hue, images, shifts)
    torch.testing.assert_close(ops.adjust_hue(images, shifts), expected, rtol=0, atol=1e-5)


def test_grayscale_matches_torchvision_where_applied(device):
    images = images_on(device)
    apply = torch.arange(B, device=device) % 3 == 0
    out = ops.grayscale(images, apply)
    for i in range(B):
        expected = TF.rgb_to_grayscale(images[i], 3) if apply[i] else images[i]
        torch.testing.assert_close(out[i], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kernel_size", [3, 7])
def test_blur_matches_torchvision_with_per_sample_sigma(device, kernel_size):
    images = images_on(device)
    sigma = torch.linspace(0.1, 2.0, B, device=device)
    apply = torch.arange(B, device=device) % 4 != 1
    out = ops.gaussian_blur(images, sigma, kernel_size, apply)
    for i in range(B):
        if apply[i]:
            size, s = [kernel_size] * 2, [sigma[i].item()] * 2
            torch.testing.assert_close(
                out[i], TF.gaussian_blur(images[i], size, s), rtol=0, atol=1e-5
            )
        else:
            torch.testing.assert_close(out[i], images[i], rtol=0, atol=0)


def test_blur_rejects_an_even_kernel(device):
    images = images_on(device)
    ones = torch.ones(B, device=device)
    with pytest.raises(ValueError, match="kernel size"):
        ops.gaussian_blur(images, ones, 4, ones.bool())


def test_solarize_matches_torchvision_where_applied(device):
    images = images_on(device)
    apply = torch.arange(B, device=device) % 2 == 0
    out = ops.solarize(images, 0.6, apply)
    for i in range(B):
        expected = TF.solarize(images[i], 0.6) if apply[i] else images[i]
        torch.testing.assert_close(out[i], expected, rtol=0, atol=0)


def test_normalize_matches_torchvision_and_is_channels_last(device):
    images = images_on(device)
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = ops.normalize(images, mean, std)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, TF.normalize(images, mean, std), rtol=0, atol=1e-6)


def test_uint8_images_are_scaled_to_unit_range(device):
    images = torch.tensor([0, 51, 255], dtype=torch.uint8, device=device).reshape(1, 3, 1, 1)
    out = ops.to_float_images(images)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.flatten().cpu(), torch.tensor([0.0, 0.2, 1.0]))
    with pytest.raises(TypeError, match="uint8 or floating"):
        ops.to_float_images(images.to(torch.int32))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last", "view of [B, 2, H, W, 3]"])
def test_normalize_uint8_equals_float_conversion_then_normalize(layout):
    pixels = torch.randint(0, 256, (B, 2, 16, 16, 3), dtype=torch.uint8)
    images = {
        "contiguous": pixels[:, 0].permute(0, 3, 1, 2).contiguous(),
        "channels_last": pixels[:, 0]
        .permute(0, 3, 1, 2)
        .contiguous(memory_format=torch.channels_last),
        # The ffcv loader's CPU route: one view of both crops, [B, 3, H, W] with HWC strides.
        "view of [B, 2, H, W, 3]": pixels[:, 0].permute(0, 3, 1, 2),
    }[layout]
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    out = ops.normalize_uint8(images, mean, std)
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    expected = ops.normalize(ops.to_float_images(images), mean, std)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    with pytest.raises(TypeError, match="must be uint8"):
        ops.normalize_uint8(expected, mean, std)
