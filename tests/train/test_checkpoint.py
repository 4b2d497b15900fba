import random

import numpy as np
import torch

from visim.train.checkpoint import (
    Position,
    capture_rng,
    checkpoint_paths,
    latest_checkpoint,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)


def test_keeps_the_last_two_and_finds_the_latest(tmp_path):
    for step in (3, 10, 7, 12):
        save_checkpoint(tmp_path, Position(0, step, step), {"value": torch.tensor(step)})
    assert [p.name for p in checkpoint_paths(tmp_path)] == [
        "step-000000010.pt",
        "step-000000012.pt",
    ]
    position, state = load_checkpoint(latest_checkpoint(tmp_path))
    assert position == Position(0, 12, 12)
    assert state["value"].item() == 12


def test_an_unfinished_write_is_never_taken_for_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path, Position(1, 0, 8), {"value": torch.tensor(8)})
    # What a kill -9 in the middle of torch.save leaves behind.
    (tmp_path / ".step-000000016.pt.tmp").write_bytes(b"half a checkpoint")
    assert latest_checkpoint(tmp_path).name == "step-000000008.pt"
    save_checkpoint(tmp_path, Position(1, 4, 12), {"value": torch.tensor(12)})
    assert not list(tmp_path.glob("*.tmp"))


def test_no_checkpoint_in_an_empty_or_missing_directory(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "missing") is None


def _draws() -> tuple:
    return random.random(), np.random.rand(), torch.rand(1).item()


def test_rng_states_survive_a_save_and_load(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    save_checkpoint(tmp_path, Position(0, 1, 1), {"rng": [capture_rng()]})
    expected = _draws()
    _draws()  # move every generator on
    _, state = load_checkpoint(latest_checkpoint(tmp_path))
    restore_rng(state["rng"][0])
    assert _draws() == expected
