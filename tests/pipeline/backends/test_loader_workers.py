"""Loader workers: one default rule that follows the machine, and what each backend accepts."""

import pytest

from visim.pipeline.augment.recipe import recipe_preset
from visim.pipeline.backends import loader_workers
from visim.pipeline.backends.loader_spec import LoaderSpec
from visim.pipeline.backends.loader_workers import (
    LoaderWorkersError,
    check_loader_workers,
    default_loader_workers,
    resolve_loader_workers,
    usable_cores,
)


@pytest.mark.parametrize(
    ("device", "processes", "cores", "workers"),
    [
        ("cpu", 1, 2, 1),  # the step keeps a core of its own
        ("cpu", 1, 1, 1),  # never fewer than one
        ("cpu", 1, 16, 15),
        ("cuda", 1, 16, 16),  # on a GPU every core loads
        ("cuda", 8, 64, 8),  # shared among the processes, one per GPU
        ("cpu", 2, 2, 1),
    ],
)
def test_the_default_follows_the_device_and_the_cores(device, processes, cores, workers):
    assert default_loader_workers(device, processes, cores) == workers


def test_the_default_counts_the_cores_this_process_may_use():
    assert default_loader_workers("cuda") == usable_cores() >= 1


@pytest.mark.parametrize("backend", ["torch", "dali", "synthetic"])
def test_backends_without_a_thread_limit_take_any_count(backend):
    check_loader_workers(backend, 4 * usable_cores())  # raises nothing
    assert resolve_loader_workers(64, backend, "cpu") == 64


def test_ffcv_refuses_more_workers_than_numba_threads_and_the_default_fits(monkeypatch):
    pytest.importorskip("numba")
    from numba import config

    monkeypatch.setattr(config, "NUMBA_NUM_THREADS", 2)
    with pytest.raises(LoaderWorkersError, match="ffcv backend runs at most 2 workers here"):
        check_loader_workers("ffcv", 3)
    check_loader_workers("ffcv", 2)
    monkeypatch.setattr(loader_workers, "usable_cores", lambda: 16)
    assert resolve_loader_workers(None, "ffcv", "cuda") == 2  # 16 by the rule, 2 by numba
    assert resolve_loader_workers(None, "torch", "cuda") == 16


def test_the_ffcv_loader_says_what_to_change_before_building_anything(tmp_path):
    pytest.importorskip("ffcv")
    from numba import config

    from visim.pipeline.backends.ffcv.loader import FFCVTwoViewLoader

    spec = LoaderSpec(
        source=tmp_path / "never-opened.beton",
        recipe=recipe_preset("small"),
        batch_size=2,
        workers=int(config.NUMBA_NUM_THREADS) + 1,
    )
    with pytest.raises(LoaderWorkersError, match="ask for .* or fewer"):
        FFCVTwoViewLoader(spec)
