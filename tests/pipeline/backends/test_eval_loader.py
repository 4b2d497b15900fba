import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from tests.pipeline import loader_contract as contract
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.eval_loader import clean_batches

RECIPE = AugmentationRecipe(size=16, eval_crop_fraction=0.8)


def test_batches_cover_the_source_in_order_with_a_short_last_batch():
    source = contract.IndexedImageSource(10, 24, 30)
    batches = list(clean_batches(source, RECIPE, batch_size=4))
    assert [len(b.indices) for b in batches] == [4, 4, 2]
    indices = torch.cat([b.indices for b in batches])
    assert indices.tolist() == list(range(10))
    assert torch.equal(torch.cat([b.labels for b in batches]), indices)
    for b in batches:
        assert b.images.shape[1:] == (3, 16, 16) and b.images.dtype == torch.float32
        assert b.images.is_contiguous(memory_format=torch.channels_last)


def test_images_are_the_normalised_centre_of_the_short_side_resize():
    source = contract.IndexedImageSource(3, 24, 30)
    images = next(clean_batches(source, RECIPE, batch_size=3)).images
    resize_to = math.floor(RECIPE.size / RECIPE.eval_crop_fraction)  # 20: short side 24 -> 20
    for i in range(3):
        image = torch.from_numpy(source.images[i]).permute(2, 0, 1)
        resized = TF.resize(image, [resize_to, 25], antialias=True)
        centre = TF.center_crop(resized, [16, 16]).float() / 255
        expected = TF.normalize(centre, RECIPE.mean, RECIPE.std)
        torch.testing.assert_close(images[i], expected, rtol=0, atol=1e-5)


def test_unreadable_images_are_left_out_and_visible_in_indices():
    source = contract.IndexedImageSource(6, 16, unreadable=frozenset({1, 2, 3}))
    batches = list(clean_batches(source, RECIPE, batch_size=2, workers=2))
    assert [b.indices.tolist() for b in batches] == [[0], [4, 5]]


def test_bad_batch_size_is_named():
    with pytest.raises(ValueError, match="batch_size"):
        next(clean_batches(contract.IndexedImageSource(2, 16), RECIPE, batch_size=0))
