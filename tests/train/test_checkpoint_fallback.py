"""Checkpoints that do not load: each kind is passed over for the newest one that does."""

import pytest
import torch

from visim.train.checkpoint import (
    NoUsableCheckpoint,
    Position,
    UnreadableCheckpoint,
    checkpoint_paths,
    load_checkpoint,
    restore_newest,
    save_checkpoint,
)


def truncate(path) -> None:
    """What a full disk or a copy cut short leaves: the first half of the file."""
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


# Ways a file named like a checkpoint can fail to be one.
DAMAGES = {
    "truncated": truncate,
    "empty": lambda path: path.write_bytes(b""),
    "not a checkpoint": lambda path: torch.save({"weights": torch.zeros(2)}, path),
    "garbage": lambda path: path.write_bytes(b"\x00\x01not a zip archive" * 64),
}


def two_checkpoints(directory) -> list:
    for step in (6, 12):
        save_checkpoint(directory, Position(step // 6, 0, step), {"value": torch.tensor(step)})
    return checkpoint_paths(directory)


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_a_damaged_file_is_an_unreadable_checkpoint_with_a_one_line_reason(tmp_path, damage):
    older, newest = two_checkpoints(tmp_path)
    DAMAGES[damage](newest)
    with pytest.raises(UnreadableCheckpoint) as caught:
        load_checkpoint(newest)
    assert "\n" not in caught.value.reason and caught.value.path == newest


@pytest.mark.parametrize("damage", DAMAGES, ids=list(DAMAGES))
def test_the_newest_checkpoint_that_loads_is_restored(tmp_path, damage):
    older, newest = two_checkpoints(tmp_path)
    DAMAGES[damage](newest)
    restored = []
    path, passed_over = restore_newest(tmp_path, lambda position, state: restored.append(position))
    assert path == older and restored == [Position(1, 0, 6)]
    (line,) = passed_over
    assert line.startswith(f"{newest.name} ") and "moved aside" in line
    # Out of the way: never picked again, and not one of the two kept.
    assert checkpoint_paths(tmp_path) == [older]
    assert (tmp_path / f"{newest.name}.unreadable").exists()


def test_a_checkpoint_that_does_not_fit_the_run_is_passed_over_and_kept(tmp_path):
    older, newest = two_checkpoints(tmp_path)

    def restore(position, state):
        if position.step == 12:
            raise RuntimeError("size mismatch for backbone.conv1.weight\nand more lines")

    path, passed_over = restore_newest(tmp_path, restore)
    assert path == older
    assert passed_over == [f"{newest.name} does not fit this run (RuntimeError: size mismatch "
                           "for backbone.conv1.weight)"]  # fmt: skip
    assert checkpoint_paths(tmp_path) == [older, newest]


def test_none_restorable_is_one_error_naming_each_and_why(tmp_path):
    for path in two_checkpoints(tmp_path):
        truncate(path)
    with pytest.raises(NoUsableCheckpoint) as caught:
        restore_newest(tmp_path, lambda position, state: None)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"no checkpoint in {tmp_path}")
    assert "step-000000012.pt cannot be read" in message
    assert "step-000000006.pt cannot be read" in message


def test_no_checkpoint_yet_restores_nothing(tmp_path):
    assert restore_newest(tmp_path / "checkpoints", lambda position, state: None) == (None, [])
