"""The SimSiam augmentation recipe as data, executed identically by every backend.

Parameters follow SimSiam (Chen & He 2021, appendix A); see docs/method.md section 1.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

VIEWS = 2  # augmented views made of each image: SimSiam compares two
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class AugmentationRecipe:
    """What happens to each view. Probabilities are per view, drawn independently."""

    size: int = 224
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    jitter_prob: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    grayscale_prob: float = 0.2
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_prob: float = 0.0
    solarize_threshold: float = 0.5  # on images scaled to [0, 1]
    flip_prob: float = 0.5
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # Evaluation: resize the short side to size / eval_crop_fraction, then centre-crop `size`.
    eval_crop_fraction: float = 0.875

    def __post_init__(self) -> None:
        problems = []
        if self.size < 8:
            problems.append(f"size must be at least 8, got {self.size}")
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            problems.append(f"crop_scale must satisfy 0 < min <= max <= 1, got {self.crop_scale}")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            problems.append(f"crop_ratio must satisfy 0 < min <= max, got {self.crop_ratio}")
        for name in ("jitter_prob", "grayscale_prob", "blur_prob", "solarize_prob", "flip_prob"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                problems.append(f"{name} must be in [0, 1], got {value}")
        for name in ("brightness", "contrast", "saturation"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be non-negative, got {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            problems.append(f"hue must be in [0, 0.5], got {self.hue}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            problems.append(f"blur_sigma must satisfy 0 < min <= max, got {self.blur_sigma}")
        if not 0 < self.eval_crop_fraction <= 1:
            problems.append(f"eval_crop_fraction must be in (0, 1], got {self.eval_crop_fraction}")
        if problems:
            raise ValueError("invalid augmentation recipe: " + "; ".join(problems))

    @property
    def blur_kernel_size(self) -> int:
        """Odd kernel about a tenth of the crop (23 at 224 px), as in SimCLR/SimSiam."""
        k = max(3, int(round(self.size * 0.1)))
        return k if k % 2 == 1 else k + 1

    @property
    def color_ops_enabled(self) -> bool:
        return any(
            p > 0
            for p in (self.jitter_prob, self.grayscale_prob, self.blur_prob, self.solarize_prob)
        )

    def replace(self, **overrides) -> AugmentationRecipe:
        unknown = set(overrides) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"unknown recipe field(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **overrides)


PRESETS: dict[str, AugmentationRecipe] = {
    "imagenet": AugmentationRecipe(size=224),
    # SimSiam's CIFAR setting: no blur at 32 px.
    "cifar": AugmentationRecipe(size=32, blur_prob=0.0),
    # Small images for the demo and quick runs; blur kept, kernel scales with size.
    "small": AugmentationRecipe(size=64),
}


def recipe_preset(name: str, **overrides) -> AugmentationRecipe:
    """A preset by name, with any field overridden (None values are ignored)."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown recipe preset {name!r}; choose one of {', '.join(PRESETS)}"
        ) from None
    return base.replace(**{k: v for k, v in overrides.items() if v is not None})
