"""Augmented views for evaluation: K per image, the same every time, whatever the workers."""

from __future__ import annotations

import torch

from visim.pipeline.augment.recipe import recipe_preset
from visim.pipeline.backends.eval_loader import AugmentedViews, augmented_batches
from visim.pipeline.sources.factory import open_source

RECIPE = recipe_preset("cifar", size=16)


def test_each_image_gets_k_views_that_depend_only_on_seed_and_index():
    source = open_source("demo:40", "train")
    views, label, index = AugmentedViews(source, RECIPE, views=3, seed=5)[7]
    assert views.shape == (3, 3, 16, 16) and index == 7 and label == source.labels[7]
    assert not torch.equal(views[0], views[1])  # K different augmentations
    # The same image asked for through a subset of indices gets the same views.
    again, _, _ = AugmentedViews(source, RECIPE, views=3, seed=5, indices=[2, 7])[1]
    torch.testing.assert_close(again, views, rtol=0, atol=0)
    other_seed, _, _ = AugmentedViews(source, RECIPE, views=3, seed=6)[7]
    assert not torch.equal(other_seed, views)


def test_batches_keep_the_order_and_do_not_depend_on_the_workers():
    source = open_source("demo:40", "train")
    runs = [
        list(augmented_batches(source, RECIPE, 2, seed=1, batch_size=8, workers=workers))
        for workers in (0, 2)
    ]
    for a, b in zip(*runs, strict=True):
        assert a.images.shape[1:] == (2, 3, 16, 16)
        torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
        assert torch.equal(a.indices, b.indices)
    assert torch.cat([batch.indices for batch in runs[0]]).tolist() == list(range(len(source)))
