"""Colour operations on a whole batch, each sample with its own parameter.

Every op takes float images [B, 3, H, W] in [0, 1] on any device and per-sample parameter
tensors [B] on the same device, and matches the torchvision.transforms.v2.functional op of the
same name applied to each sample alone. Nothing here synchronises with the device (no
data-dependent indexing), so the ops queue on a CUDA stream like any other kernel.
"""

from __future__ import annotations

from enum import IntEnum

import torch
import torch.nn.functional as F


class JitterOp(IntEnum):
    """The colour-jitter ops' ids, in torchvision ColorJitter's numbering (its fn_idx).

    numba compiles the members as integer constants, but torch.compile cannot trace
    `tensor == member` (torch 2.14), so tensors are compared with int(member).
    """

    BRIGHTNESS = 0
    CONTRAST = 1
    SATURATION = 2
    HUE = 3


JITTER_OPS = len(JitterOp)
NO_OP = -1  # an op id of blend_step: leave this sample as it is


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float32 in [0, 1]; float input is returned as it is."""
    if images.dtype == torch.uint8:
        return images.to(torch.float32).div_(255)
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 or floating point, got {images.dtype}")
    return images


def luma(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma as torchvision computes it: [B, 3, H, W] -> [B, 1, H, W]."""
    r, g, b = images.unbind(dim=1)
    return r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1)


def _per_sample(values: torch.Tensor) -> torch.Tensor:
    """[B] -> [B, 1, 1, 1], to broadcast over channels and pixels."""
    return values.reshape(-1, 1, 1, 1)


def blend_step(images: torch.Tensor, op: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """One of brightness / contrast / saturation per sample, or nothing where op is NO_OP.

    All three are torchvision's blend: clamp(factor * x + (1 - factor) * target), with target
    0 (brightness), the mean luma of the image (contrast) or the pixel's luma (saturation),
    so one pass serves a batch whose samples each need a different op.
    """
    gray = luma(images)  # [B, 1, H, W]
    mean_gray = gray.mean(dim=(1, 2, 3), keepdim=True)  # [B, 1, 1, 1]
    op = _per_sample(op)
    target = torch.where(
        op == int(JitterOp.SATURATION),
        gray,
        torch.where(op == int(JitterOp.CONTRAST), mean_gray, 0.0),
    )
    # factor 1 makes the blend an exact identity for samples that skip this step.
    factor = torch.where(op == NO_OP, 1.0, _per_sample(factor))
    return (images * factor + target * (1 - factor)).clamp_(0, 1)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend_step(
        images, torch.full_like(factor, JitterOp.BRIGHTNESS, dtype=torch.long), factor
    )


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend_step(images, torch.full_like(factor, JitterOp.CONTRAST, dtype=torch.long), factor)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend_step(
        images, torch.full_like(factor, JitterOp.SATURATION, dtype=torch.long), factor
    )


def adjust_hue(images: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate hue by `shift` [B] (a fraction of the colour wheel, in [-0.5, 0.5]) in HSV."""
    r, g, b = images.unbind(dim=1)  # each [B, H, W]
    value, argmax = images.max(dim=1)
    chroma = value - images.min(dim=1).values
    saturation = chroma / torch.where(value > 0, value, 1.0)
    inv_chroma = torch.where(chroma > 0, chroma, 1.0).reciprocal_()
    # Hue in sixths of the wheel, from whichever channel is the largest (red wins ties);
    # the red branch may be negative until the shift's remainder wraps it.
    hue6 = torch.where(
        argmax == 0,
        (g - b).mul_(inv_chroma),
        torch.where(
            argmax == 1, (b - r).mul_(inv_chroma).add_(2), (r - g).mul_(inv_chroma).add_(4)
        ),
    )
    hue6 = hue6.add_(6 * shift.reshape(-1, 1, 1)).remainder_(6)
    # HSV -> RGB: channel n in (5, 3, 1) for (r, g, b) is v (1 - s clamp(min(k, 4 - k), 0, 1))
    # with k = (n + hue6) mod 6. (Offsets built with arange: copying a Python list to the
    # device would synchronise.)
    offsets = 5 - 2 * torch.arange(3, device=images.device, dtype=images.dtype)
    k = (hue6.unsqueeze(1) + offsets.reshape(1, 3, 1, 1)).remainder_(6)  # [B, 3, H, W]
    ramp = torch.minimum(k, 4 - k).clamp_(0, 1)
    return ramp.mul_(saturation.unsqueeze(1)).neg_().add_(1).mul_(value.unsqueeze(1))


def grayscale(images: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
    """Replace every channel by the luma where apply [B] is true."""
    return torch.where(_per_sample(apply), luma(images).expand_as(images), images)


def gaussian_kernels(sigma: torch.Tensor, kernel_size: int, apply: torch.Tensor) -> torch.Tensor:
    """Normalised 1-D Gaussian weights per sample: [B] -> [B, kernel_size].

    Samples where apply is false get a unit impulse, so the blur leaves them exactly as they
    were without any per-sample branching.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"blur kernel size must be a positive odd integer, got {kernel_size}")
    offsets = torch.arange(kernel_size, device=sigma.device, dtype=sigma.dtype) - kernel_size // 2
    weights = torch.softmax(-(offsets**2) / (2 * sigma.reshape(-1, 1) ** 2), dim=1)  # [B, k]
    impulse = (offsets == 0).to(sigma.dtype).expand_as(weights)
    return torch.where(apply.reshape(-1, 1), weights, impulse)


def gaussian_blur(
    images: torch.Tensor, sigma: torch.Tensor, kernel_size: int, apply: torch.Tensor
) -> torch.Tensor:
    """Separable Gaussian blur with per-sample sigma [B], reflect padding like torchvision."""
    batch, channels, height, width = images.shape
    kernels = gaussian_kernels(sigma.to(images.dtype), kernel_size, apply)  # [B, k]
    # One depthwise filter per (sample, channel): [B*3, 1, 1, k] along width, [B*3, 1, k, 1]
    # along height, all in a single grouped convolution each.
    kernels = kernels.repeat_interleave(channels, dim=0).reshape(batch * channels, 1, 1, -1)
    pad = kernel_size // 2
    padded = F.pad(images, (pad, pad, pad, pad), mode="reflect")  # [B, 3, H+2p, W+2p]
    stacked = padded.reshape(1, batch * channels, height + 2 * pad, width + 2 * pad)
    blurred = F.conv2d(stacked, kernels, groups=batch * channels)  # [1, B*3, H+2p, W]
    blurred = F.conv2d(blurred, kernels.transpose(2, 3), groups=batch * channels)  # [1, B*3, H, W]
    return blurred.reshape(batch, channels, height, width)


def solarize(images: torch.Tensor, threshold: float, apply: torch.Tensor) -> torch.Tensor:
    """Invert pixels at or above `threshold` where apply [B] is true."""
    return torch.where(_per_sample(apply) & (images >= threshold), 1 - images, images)


def normalize(
    images: torch.Tensor, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """(x - mean) / std per channel, as a channels_last tensor written in one pass.

    The channels are stacked along a new last axis, which lays them out as channels_last
    already (permute only relabels the axes). Python-scalar arithmetic per channel avoids
    copying mean/std to the device, which would synchronise a CUDA stream, and the function
    has no out= argument, so torch.compile traces it whole.
    """
    channels = [(images[:, c] - m) / s for c, (m, s) in enumerate(zip(mean, std, strict=True))]
    return torch.stack(channels, dim=-1).permute(0, 3, 1, 2)  # [B, H, W, 3] -> [B, 3, H, W]


def normalize_uint8(
    images: torch.Tensor, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> (x / 255 - mean) / std as float32, channels_last, in one pass.

    For CPU tensors, whose colour ops ran elsewhere (the ffcv loader's CPU route): one
    addcmul reads the uint8 and writes the result, a few times faster than to_float_images
    then normalize. (On a GPU, building its per-channel scale would copy to the device.)
    """
    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8, got {images.dtype}")

    def per_channel(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=images.device).reshape(1, 3, 1, 1)

    scale = per_channel([1 / (255 * s) for s in std])
    shift = per_channel([-m / s for m, s in zip(mean, std, strict=True)])
    out = torch.empty_like(images, dtype=torch.float32, memory_format=torch.channels_last)
    return torch.addcmul(shift, images, scale, out=out)
