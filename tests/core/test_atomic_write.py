"""An interrupted atomic write keeps the old file and leaves no temporary file behind; a write
the storage refuses is a WriteFailed naming the file and the reason."""

import errno

import pytest

from visim.core.atomic_write import WriteFailed, write_atomically, write_text_atomically


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError], ids=["Ctrl-C", "disk error"])
def test_an_interrupted_write_keeps_the_old_content(tmp_path, stop):
    path = tmp_path / "table.parquet"
    write_text_atomically(path, "old")

    def write_half(temporary):
        temporary.write_text("half of the n")
        raise stop

    with pytest.raises(stop):
        write_atomically(path, write_half)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["table.parquet"]


def test_a_complete_write_replaces_the_file(tmp_path):
    path = tmp_path / "config.toml"
    write_text_atomically(path, "old")
    write_text_atomically(path, "new")
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (OSError(errno.EROFS, "Read-only file system"), "read-only file system"),
        (PermissionError(errno.EACCES, "Permission denied"), "permission denied"),
        # torch.save's own words for a short write, with no errno
        (RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 576 vs 534"),
         "no space left on device"),
        # safetensors'
        (Exception("Error while serializing: I/O error: No space left on device (os error 28)"),
         "no space left on device"),
    ],
    ids=["ENOSPC", "EROFS", "EACCES", "torch", "safetensors"],
)  # fmt: skip
def test_a_write_the_storage_refuses_is_one_named_failure(tmp_path, error, reason):
    path = tmp_path / "step-000000010.pt"
    write_text_atomically(path, "the last good checkpoint")

    def refused(temporary):
        temporary.write_bytes(b"the first megabytes")
        raise error

    with pytest.raises(WriteFailed) as failed:
        write_atomically(path, refused)
    assert failed.value.path == path
    assert str(failed.value).startswith(f"could not write {path}: {reason}")
    assert path.read_text() == "the last good checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_a_writer_bug_is_not_dressed_up_as_a_storage_failure(tmp_path):
    def buggy(temporary):
        raise ValueError("cannot serialise a generator")

    with pytest.raises(ValueError, match="generator"):
        write_atomically(tmp_path / "x.json", buggy)
    assert list(tmp_path.iterdir()) == []
