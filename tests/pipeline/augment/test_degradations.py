"""The seeded degradations of the label-free uncertainty check."""

import pytest
import torch
from torchvision.transforms.v2 import functional as F

from visim.pipeline.augment.degradations import (
    BLUR_SIGMA_FRACTION,
    CROP_FRACTION_RANGE,
    crop_fraction,
    degrade,
)


def test_crop_fraction_is_fixed_per_image_and_in_range():
    fractions = [crop_fraction(7, index) for index in range(200)]
    low, high = CROP_FRACTION_RANGE
    assert all(low <= f <= high for f in fractions)
    assert fractions == [crop_fraction(7, index) for index in range(200)]
    assert len(set(fractions)) == 200  # drawn per image, not one shared fraction
    assert fractions != [crop_fraction(8, index) for index in range(200)]


def test_cropped_keeps_the_centre_scaled_back_to_full_size():
    image = torch.zeros(3, 32, 32)
    image[:, 12:20, 12:20] = 1.0  # a bright centre square, 8 of 32 px
    cropped = degrade(image, "cropped", 0, 5)
    assert cropped.shape == image.shape
    kept = round(32 * crop_fraction(0, 5))
    # The square grows by 32 / kept: its area share rises from (8/32)^2.
    assert cropped.mean() == pytest.approx(min(1.0, (8 / kept) ** 2), abs=0.05)


def test_blurred_smooths_and_keeps_the_mean():
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(3, 32, 32, generator=generator)
    blurred = degrade(image, "blurred", 0, 0)
    assert blurred.shape == image.shape
    assert blurred.std() < 0.5 * image.std()
    assert blurred.mean() == pytest.approx(image.mean().item(), abs=0.05)
    assert BLUR_SIGMA_FRACTION * 32 > 1  # at 32 px the blur spans more than a pixel


@pytest.mark.parametrize("kind", ["cropped", "blurred"])
def test_degrading_commutes_with_normalisation(kind):
    """eval_loader degrades the normalised image; the result must equal degrading pixels."""
    generator = torch.Generator().manual_seed(1)
    pixels = torch.rand(3, 32, 32, generator=generator)
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    first_normalised = degrade(F.normalize(pixels, mean, std), kind, 3, 9)
    first_degraded = F.normalize(degrade(pixels, kind, 3, 9), mean, std)
    torch.testing.assert_close(first_normalised, first_degraded, atol=1e-4, rtol=1e-4)


def test_an_unknown_degradation_is_named():
    with pytest.raises(ValueError, match="'rotated'"):
        degrade(torch.zeros(3, 8, 8), "rotated", 0, 0)
