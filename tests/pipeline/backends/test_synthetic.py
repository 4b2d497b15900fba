import dataclasses

import pytest
import torch

from tests.pipeline import loader_contract as contract
from visim.pipeline.augment.recipe import AugmentationRecipe
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.backends.registry import make_loader
from visim.pipeline.backends.synthetic import SyntheticTwoViewLoader

SPEC = LoaderSpec(
    source="unused",
    recipe=AugmentationRecipe(size=16),
    batch_size=4,
    synthetic_samples=50,
)


def factory(**overrides) -> SyntheticTwoViewLoader:
    return SyntheticTwoViewLoader(dataclasses.replace(SPEC, **overrides))


@pytest.fixture(scope="module")
def loader() -> SyntheticTwoViewLoader:
    return factory()


def test_batch_contract(loader):
    contract.check_batch_contract(loader)


def test_two_views_of_a_sample_differ(loader):
    contract.check_views_differ(loader, min_fraction=1.0)


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


def test_length_comes_from_synthetic_samples_and_the_backend_registry_builds_it():
    loader = make_loader("synthetic", dataclasses.replace(SPEC, synthetic_samples=1000))
    assert isinstance(loader, SyntheticTwoViewLoader)
    assert loader.num_samples == 1000 and len(loader) == 250


def test_views_are_drawn_once_and_reused():
    loader = factory()
    first, second = list(loader)[:2]
    assert first.view1.data_ptr() == second.view1.data_ptr()
    assert not torch.equal(first.label, second.label)


def test_too_few_samples_and_bad_start_batch_are_named(loader):
    with pytest.raises(ValueError, match="synthetic_samples"):
        factory(synthetic_samples=7, world_size=2)
    with pytest.raises(ValueError, match="start_batch"):
        loader.set_epoch(0, start_batch=-1)
