"""The recipe's colour stage for a whole batch of cropped, flipped views, on their device.

Per view, in the torch backend's order: colour jitter (p = jitter_prob; brightness, contrast,
saturation and hue in a random order per sample, like torchvision's ColorJitter) -> grayscale
(grayscale_prob) -> Gaussian blur (blur_prob, sigma uniform in blur_sigma) -> solarize
(solarize_prob) -> normalise. Loaders that crop and flip elsewhere (FFCV) call
augment_colors_and_normalize on the training device; sampling and applying are separate so
tests can check each against torchvision on the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from visim.pipeline.augment.batched_color_ops import (
    JITTER_OPS,
    NO_OP,
    JitterOp,
    adjust_hue,
    blend_step,
    gaussian_blur,
    grayscale,
    normalize,
    solarize,
    to_float_images,
)
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.indexed_device import indexed_device


@dataclass(frozen=True)
class ColorParams:
    """Every random decision of the colour stage for B views; all tensors on one device."""

    jitter: torch.Tensor  # bool [B]: colour jitter applied
    jitter_order: torch.Tensor  # int64 [B, 4]: JitterOp ids in order
    brightness: torch.Tensor  # float [B], in [max(0, 1 - b), 1 + b]
    contrast: torch.Tensor  # float [B]
    saturation: torch.Tensor  # float [B]
    hue: torch.Tensor  # float [B], in [-h, h]
    grayscale: torch.Tensor  # bool [B]
    blur: torch.Tensor  # bool [B]
    blur_sigma: torch.Tensor  # float [B], in recipe.blur_sigma
    solarize: torch.Tensor  # bool [B]

    @property
    def factors(self) -> torch.Tensor:
        """float [B, 4]: the jitter factor of each op id, indexable by jitter_order."""
        return torch.stack((self.brightness, self.contrast, self.saturation, self.hue), dim=1)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) * (high - low) + low


def _coin(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) < p


def sample_color_params(
    batch_size: int, recipe: AugmentationRecipe, generator: torch.Generator
) -> ColorParams:
    """Draw the colour-stage parameters of `batch_size` views on the generator's device.

    Ranges are torchvision ColorJitter's: a strength of 0 gives the identity factor.
    """
    n, g = batch_size, generator
    return ColorParams(
        jitter=_coin(n, recipe.jitter_prob, g),
        # argsort of uniform noise: an independent uniformly random permutation per row.
        jitter_order=torch.rand(n, JITTER_OPS, generator=g, device=g.device).argsort(dim=1),
        brightness=_uniform(n, max(0.0, 1 - recipe.brightness), 1 + recipe.brightness, g),
        contrast=_uniform(n, max(0.0, 1 - recipe.contrast), 1 + recipe.contrast, g),
        saturation=_uniform(n, max(0.0, 1 - recipe.saturation), 1 + recipe.saturation, g),
        hue=_uniform(n, -recipe.hue, recipe.hue, g),
        grayscale=_coin(n, recipe.grayscale_prob, g),
        blur=_coin(n, recipe.blur_prob, g),
        blur_sigma=_uniform(n, recipe.blur_sigma[0], recipe.blur_sigma[1], g),
        solarize=_coin(n, recipe.solarize_prob, g),
    )


def _blend_at(
    images: torch.Tensor, params: ColorParams, position: int, active: torch.Tensor
) -> torch.Tensor:
    """Apply each sample's jitter op at `position` where `active` [B] (and jitter) is set."""
    op_ids = params.jitter_order[:, position]  # [B]
    factor = params.factors.gather(1, op_ids.unsqueeze(1)).squeeze(1)  # [B]
    return blend_step(images, torch.where(active & params.jitter, op_ids, NO_OP), factor)


def color_jitter(images: torch.Tensor, params: ColorParams, with_hue: bool = True) -> torch.Tensor:
    """Each sample's four jitter ops in its own order, where params.jitter is set.

    Hue (the expensive op) runs once for the whole batch: the positions before each sample's
    hue position are applied first, then hue, then the positions after it. with_hue=False
    (a recipe hue strength of 0) skips the HSV round trip, which would be a no-op.
    """
    hue_position = (params.jitter_order == int(JitterOp.HUE)).to(torch.long).argmax(dim=1)  # [B]
    out = images
    # Hue may come last, so positions 0..2 can precede it; it may come first, so 1..3 can follow.
    for position in range(JITTER_OPS - 1):
        out = _blend_at(out, params, position, position < hue_position)
    if with_hue:
        out = torch.where(params.jitter.reshape(-1, 1, 1, 1), adjust_hue(out, params.hue), out)
    for position in range(1, JITTER_OPS):
        out = _blend_at(out, params, position, position > hue_position)
    return out


def apply_color_params(
    images: torch.Tensor, params: ColorParams, recipe: AugmentationRecipe
) -> torch.Tensor:
    """The colour stage with given parameters: [B, 3, H, W] uint8, or float in [0, 1] -> float
    in [0, 1]. The input is not modified.

    Stages whose recipe probability is 0 are skipped outright (a static choice, so no device
    synchronisation); jitter without hue skips the HSV round trip.
    """
    out = to_float_images(images)
    if recipe.jitter_prob > 0:
        out = color_jitter(out, params, with_hue=recipe.hue > 0)
    if recipe.grayscale_prob > 0:
        out = grayscale(out, params.grayscale)
    if recipe.blur_prob > 0:
        out = gaussian_blur(out, params.blur_sigma, recipe.blur_kernel_size, params.blur)
    if recipe.solarize_prob > 0:
        out = solarize(out, recipe.solarize_threshold, params.solarize)
    return out


def color_and_normalize(
    images: torch.Tensor, params: ColorParams, recipe: AugmentationRecipe
) -> torch.Tensor:
    """apply_color_params, then normalisation with recipe.mean/std: float32 [B, 3, H, W],
    channels_last. One function, so that torch.compile fuses it as one graph
    (compiled_color_stage)."""
    out = apply_color_params(images, params, recipe).to(torch.float32)
    return normalize(out, recipe.mean, recipe.std)


def augment_colors_and_normalize(
    images: torch.Tensor,
    recipe: AugmentationRecipe,
    generator: torch.Generator,
    stage: Callable[[torch.Tensor, ColorParams], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Random colour stage + normalisation of cropped, flipped views.

    images: uint8 or float in [0, 1], [B, 3, H, W], on the generator's device.
    stage: what runs color_and_normalize(images, params, recipe) (a compiled version of it,
    compiled_color_stage); None runs it eagerly.
    Returns float32 [B, 3, H, W], normalised with recipe.mean/std, channels_last.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape [B, 3, H, W], got {tuple(images.shape)}")
    # A generator made for "cuda" reports "cuda", its tensors "cuda:0": compare indexed.
    if indexed_device(images.device) != indexed_device(generator.device):
        raise ValueError(
            f"generator is on {generator.device} but images are on {images.device}; "
            "draw the parameters on the images' device"
        )
    params = sample_color_params(images.shape[0], recipe, generator)
    if stage is None:
        return color_and_normalize(images, params, recipe)
    return stage(images, params)
