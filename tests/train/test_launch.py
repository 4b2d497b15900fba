"""A run in this process trains on its share of the cores, whatever the caller's state."""

import os

import torch
from conftest import tiny_config

from visim.train import launch
from visim.train.run_dir import RunDir


def test_an_in_process_cpu_run_sets_its_threads_and_gives_the_callers_back(tmp_path, monkeypatch):
    seen = []

    def record_threads(*args, **kwargs) -> int:
        seen.append(torch.get_num_threads())
        return 0

    monkeypatch.setattr(launch, "train_process", record_threads)
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # as importing ffcv leaves it
    try:
        assert launch.run_pretrain(tiny_config(), RunDir(tmp_path / "run"), resume=False) == 0
        assert seen == [len(os.sched_getaffinity(0))]
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
