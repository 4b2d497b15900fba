import dataclasses
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from torchvision.transforms import v2

from tests.pipeline import loader_contract as contract
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.backends.registry import make_loader
from visim.pipeline.backends.torch import (
    TorchTwoViewLoader,
    TwoViewDataset,
    build_view_transform,
    flush_denormals,
)

RECIPE = AugmentationRecipe(size=16, solarize_prob=0.2)
# 50 samples in batches of 4: 12 batches on one rank, 6 on two, 4 on three, some left over.
SOURCE = contract.IndexedImageSource(50, 16)
SPEC = LoaderSpec(source=SOURCE.location, recipe=RECIPE, batch_size=4, workers=0)


def factory(**overrides) -> TorchTwoViewLoader:
    return TorchTwoViewLoader(dataclasses.replace(SPEC, **overrides), SOURCE)


@pytest.fixture(scope="module")
def loader() -> TorchTwoViewLoader:
    return factory()


def test_batch_contract(loader):
    contract.check_batch_contract(loader)


def test_two_views_of_a_sample_differ(loader):
    contract.check_views_differ(loader)


@pytest.mark.parametrize("height, width", [(16, 16), (12, 20)])
def test_identity_recipe_gives_views_equal_up_to_flip(height, width):
    source = contract.IndexedImageSource(40, height, width)
    spec = dataclasses.replace(SPEC, recipe=contract.identity_recipe(RECIPE, aspect=width / height))
    contract.check_identity_views_equal_up_to_flip(TorchTwoViewLoader(spec, source))


def test_order_follows_epoch_order(loader):
    contract.check_order_follows_epoch_order(loader)


def test_epochs_reorder(loader):
    contract.check_epochs_reorder(loader)


def test_start_batch_resumes_exactly(loader):
    contract.check_start_batch_resumes(loader, start_batch=5)


def test_same_seed_same_batches():
    contract.check_same_seed_same_batches(factory)


@pytest.mark.parametrize("world_size", [2, 3])
def test_shards_are_disjoint_and_cover_the_epoch(world_size):
    contract.check_shards_disjoint_and_cover(factory, world_size)


def test_worker_processes_draw_the_same_augmentations_as_the_main_process():
    in_process = contract.collect_epoch(factory(), 1)
    with_workers = factory(workers=2)
    # Two epochs through the same persistent workers: the second must follow set_epoch.
    contract.collect_epoch(with_workers, 0)
    for a, b in zip(in_process, contract.collect_epoch(with_workers, 1), strict=True):
        assert torch.equal(a.label, b.label)
        torch.testing.assert_close(b.view1, a.view1, rtol=0, atol=0)
        torch.testing.assert_close(b.view2, a.view2, rtol=0, atol=0)


def test_workers_treat_denormal_floats_as_zero():
    assert factory(workers=1)._loader.worker_init_fn is flush_denormals
    # In a process of its own: the setting is per process and would leak into other tests.
    code = (
        "import torch\n"
        "from visim.pipeline.backends.torch import flush_denormals\n"
        "flush_denormals(0)\n"
        "print(torch.set_flush_denormal(True), (torch.tensor([1e-39]) * 2).item())\n"
    )
    supported, product = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    if supported == "False":
        pytest.skip("this CPU cannot flush denormals")
    assert float(product) == 0.0


def test_seeding_a_sample_leaves_the_callers_random_state_alone():
    dataset = TwoViewDataset(SOURCE, RECIPE, seed=0)
    state = torch.get_rng_state()
    dataset[(0, 5)]
    assert torch.equal(state, torch.get_rng_state())


def view_rate(recipe: AugmentationRecipe, changed, n: int = 500) -> float:
    """Fraction of views for which changed(original, view) holds, over n samples x 2 views."""
    source = contract.IndexedImageSource(n, 8)
    dataset = TwoViewDataset(source, recipe, seed=0)
    mean = torch.tensor(recipe.mean).reshape(3, 1, 1)
    std = torch.tensor(recipe.std).reshape(3, 1, 1)
    hits = 0
    for i in range(n):
        original = torch.from_numpy(source.images[i]).permute(2, 0, 1).float() / 255
        view1, view2, _, _ = dataset[(0, i)]
        hits += sum(bool(changed(original, v * std + mean)) for v in (view1, view2))
    return hits / (2 * n)


def assert_binomial_rate(rate: float, p: float, n: int) -> None:
    sigma = math.sqrt(p * (1 - p) / n)
    assert abs(rate - p) <= 5 * sigma + 1e-9, f"observed rate {rate:.3f}, expected {p}"


# One op at a time on a whole-image crop, each detectable on a view of random noise.
ONLY = contract.identity_recipe(AugmentationRecipe(size=8)).replace(flip_prob=0.0)


@pytest.mark.parametrize(
    "recipe, p, changed",
    [
        (ONLY.replace(flip_prob=0.5), 0.5, lambda o, v: (v - o.flip(-1)).abs().max() < 1e-4),
        (ONLY.replace(grayscale_prob=0.2), 0.2, lambda o, v: (v[0] - v[1]).abs().max() < 1e-5),
        (ONLY.replace(blur_prob=0.5), 0.5, lambda o, v: (v - o).abs().max() > 1e-3),
        (
            ONLY.replace(jitter_prob=0.8, contrast=0, saturation=0, hue=0),
            0.8,
            lambda o, v: (v - o).abs().max() > 1e-5,
        ),
    ],
    ids=["flip", "grayscale", "blur", "jitter"],
)
def test_ops_fire_at_the_recipe_rate(recipe, p, changed):
    assert_binomial_rate(view_rate(recipe, changed), p, 1000)


def test_crop_areas_and_ratios_stay_in_the_recipe_range():
    recipe = AugmentationRecipe(size=16, crop_scale=(0.3, 0.7), crop_ratio=(0.5, 2.0))
    crop = build_view_transform(recipe).transforms[0]
    assert isinstance(crop, v2.RandomResizedCrop)
    image = torch.zeros(3, 200, 300, dtype=torch.uint8)
    torch.manual_seed(0)
    boxes = [crop.make_params([image]) for _ in range(2000)]
    areas = np.array([b["height"] * b["width"] for b in boxes]) / (200 * 300)
    ratios = np.array([b["width"] / b["height"] for b in boxes])
    # Rounding the box to whole pixels moves the area by under 1 %.
    assert areas.min() >= 0.3 * 0.99 and areas.max() <= 0.7 * 1.01
    assert areas.min() < 0.32 and areas.max() > 0.68  # the whole range is used
    assert ratios.min() >= 0.5 * 0.98 and ratios.max() <= 2.0 * 1.02


def test_unreadable_items_are_replaced_by_the_next_readable_one_and_reported():
    source = contract.IndexedImageSource(12, 16, unreadable=frozenset({3, 7, 8}))
    spec = dataclasses.replace(SPEC, shuffle=False)
    loader = TorchTwoViewLoader(spec, source)
    with pytest.warns(RuntimeWarning) as caught:
        labels = contract.epoch_labels(contract.collect_epoch(loader, 0))
    assert [str(w.message).split(":")[0] for w in caught] == [
        f"unreadable image {source.describe(i)}" for i in (3, 7, 8)
    ]
    assert labels == [0, 1, 2, 4, 4, 5, 6, 9, 9, 9, 10, 11]
    assert set(loader.unreadable_items) == {3, 7, 8}
    assert loader.substitutions == 3


def test_a_run_of_unreadable_items_stops_with_their_names():
    source = contract.IndexedImageSource(8, 16, unreadable=frozenset(range(8)))
    loader = TorchTwoViewLoader(SPEC, source)
    with pytest.raises(RuntimeError, match=r"unreadable"):
        contract.collect_epoch(loader, 0)


def test_too_small_a_source_and_bad_start_batch_are_named(loader):
    with pytest.raises(ValueError, match="batch_size"):
        TorchTwoViewLoader(SPEC, contract.IndexedImageSource(3, 16))
    with pytest.raises(ValueError, match="start_batch"):
        loader.set_epoch(0, start_batch=len(loader) + 1)


def test_the_backend_registry_opens_the_spec_source():
    spec = dataclasses.replace(SPEC, source="demo:40", batch_size=8)
    loader = make_loader("torch", spec)
    assert isinstance(loader, TorchTwoViewLoader) and loader.num_samples == 40
    contract.check_batch_contract(loader)
