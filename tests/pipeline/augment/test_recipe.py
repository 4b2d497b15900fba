import pytest

from visim.pipeline.augment.recipe import PRESETS, recipe_preset


def test_presets_follow_simsiam():
    imagenet = recipe_preset("imagenet")
    assert imagenet.size == 224 and imagenet.crop_scale == (0.2, 1.0)
    assert (imagenet.brightness, imagenet.contrast, imagenet.saturation, imagenet.hue) == (
        0.4,
        0.4,
        0.4,
        0.1,
    )
    assert imagenet.jitter_prob == 0.8 and imagenet.grayscale_prob == 0.2
    assert imagenet.blur_prob == 0.5 and imagenet.flip_prob == 0.5
    assert recipe_preset("cifar").size == 32 and recipe_preset("cifar").blur_prob == 0.0
    assert set(PRESETS) == {"imagenet", "cifar", "small"}


def test_overrides_apply_and_none_is_ignored():
    recipe = recipe_preset("small", size=48, blur_prob=None)
    assert recipe.size == 48 and recipe.blur_prob == PRESETS["small"].blur_prob


def test_blur_kernel_is_odd_and_scales_with_size():
    assert recipe_preset("imagenet").blur_kernel_size == 23
    assert all(recipe_preset("small", size=s).blur_kernel_size % 2 == 1 for s in range(8, 100))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"crop_scale": (0.5, 0.2)}, "crop_scale"),
        ({"grayscale_prob": 1.5}, "grayscale_prob"),
        ({"hue": 0.7}, "hue"),
        ({"size": 4}, "size"),
        ({"colour": 1}, "unknown recipe field"),
    ],
)
def test_invalid_values_name_the_field(overrides, message):
    with pytest.raises(ValueError, match=message):
        recipe_preset("imagenet", **overrides)


def test_unknown_preset_lists_the_choices():
    with pytest.raises(ValueError, match="imagenet, cifar, small"):
        recipe_preset("tiny")
