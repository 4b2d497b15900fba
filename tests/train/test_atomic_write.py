"""An interrupted atomic write keeps the old file and leaves no temporary file behind."""

import pytest

from visim.train.atomic_write import write_atomically, write_text_atomically


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
