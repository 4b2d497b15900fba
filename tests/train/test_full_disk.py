"""Real processes writing onto a real full (or read-only) file system: one line naming the file
and the reason, exit code 1, nothing half-written, and the last good checkpoint kept.

The file systems are small tmpfs mounts, which need root and a kernel that lets this process
mount; elsewhere these tests skip, and tests/core/test_atomic_write.py covers the same class
with a patched writer.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.cli.test_interrupts import TINY_PRETRAIN, tiny_run

MIB = 2**20


def can_mount() -> bool:
    probe = Path("/tmp") / f"visim-mount-probe-{uuid.uuid4().hex}"
    probe.mkdir()
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)],
                                 capture_output=True).returncode == 0  # fmt: skip
        if mounted:
            subprocess.run(["umount", str(probe)], check=True)
        return mounted
    except FileNotFoundError:  # no mount command
        return False
    finally:
        probe.rmdir()


pytestmark = pytest.mark.skipif(not can_mount(), reason="cannot mount a tmpfs here (needs root)")


@contextlib.contextmanager
def filesystem(where: Path, megabytes: int, read_only: bool = False):
    """A tmpfs of `megabytes` at `where`, unmounted afterwards."""
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={megabytes}m" + (",ro" if read_only else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def resize(where: Path, megabytes: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={megabytes}m", str(where)], check=True)


def visim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "visim", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)  # fmt: skip


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one error line of a failed command, with no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def no_temporaries(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.endswith(".tmp") or ".tmp-" in p.name)


def pretrain(run: Path, *extra: str, cwd: Path) -> subprocess.CompletedProcess:
    return visim("pretrain", "demo:96", "--out", str(run), *TINY_PRETRAIN, *extra, cwd=cwd)


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> int:
    """The size of one checkpoint of the tiny run, measured on a roomy disk."""
    where = tmp_path_factory.mktemp("roomy")
    result = pretrain(where / "run", "--max-steps", "1", cwd=where)
    assert result.returncode == 0, result.stderr
    (checkpoint,) = (where / "run" / "checkpoints").glob("step-*.pt")
    return checkpoint.stat().st_size


def test_a_disk_full_at_the_first_checkpoint(tmp_path, checkpoint_bytes):
    with filesystem(tmp_path / "small", checkpoint_bytes // MIB // 2) as small:
        result = pretrain(small / "run", cwd=tmp_path)
        assert result.returncode == 1
        line = error_line(result)
        assert line.startswith(f"error: could not write {small}/run/checkpoints/step-")
        assert "no space left on device" in line and "no checkpoint had been written yet" in line
        # Warned before it started: it knew the model's size.
        assert "MiB free under" in result.stdout + result.stderr
        assert no_temporaries(small) == []


def test_a_disk_full_at_a_later_checkpoint_keeps_the_last_good_one(tmp_path, checkpoint_bytes):
    # Room for the first checkpoint, not for the second beside it.
    with filesystem(tmp_path / "small", int(1.5 * checkpoint_bytes / MIB) + 4) as small:
        run = small / "run"
        result = pretrain(run, cwd=tmp_path)
        assert result.returncode == 1
        line = error_line(result)
        (kept,) = (run / "checkpoints").glob("step-*.pt")
        assert f"the last good checkpoint, {kept.name}, is kept" in line
        assert f"continue with: visim pretrain --resume {run}" in line
        assert no_temporaries(small) == []
        resize(small, 4 * checkpoint_bytes // MIB)  # the user makes room
        resumed = visim("pretrain", "--resume", str(run), cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        assert (run / "model.safetensors").is_file()


def test_a_read_only_run_directory_trains_nothing(tmp_path):
    with filesystem(tmp_path / "ro", 8, read_only=True) as read_only:
        result = pretrain(read_only / "run", cwd=tmp_path)
    assert result.returncode == 1
    assert error_line(result) == (
        f"error: could not write {read_only}/run: read-only file system; nothing was trained"
    )


def test_eval_and_embed_on_a_full_disk_leave_what_was_there(tmp_path):
    with filesystem(tmp_path / "small", 160) as small:
        run = tiny_run(small / "run")
        # What is left of the disk is filled, as another program would have filled it.
        filler = small / "filler"
        with open(filler, "wb") as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * MIB)
                handle.flush()
        evaluated = visim("eval", str(run), "--train", "demo:40", "--test", "demo:40",
                          "--workers", "0", "--no-plots", cwd=tmp_path)  # fmt: skip
        assert evaluated.returncode == 1
        line = error_line(evaluated)
        assert line.startswith(f"error: could not write {run}/eval/")
        assert "no space left on device" in line and "are as they were" in line
        assert not (run / "eval" / "eval.json").exists()

        out = small / "table.parquet"
        embedded = visim("embed", str(run), "--data", "demo:40", "--out", str(out),
                         "--reference", "none", "--workers", "0", cwd=tmp_path)  # fmt: skip
        if "pip install 'visim[parquet]'" in embedded.stderr:
            pytest.skip("the parquet extra is not installed")
        assert embedded.returncode == 1
        assert error_line(embedded).startswith(f"error: could not write {out}: no space left")
        assert not out.exists()
        assert no_temporaries(small) == []


def test_convert_onto_a_full_disk_writes_nothing(tmp_path):
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    with filesystem(tmp_path / "small", 12) as small:
        out = small / "shapes.beton"
        result = visim("convert", "demo:2000", str(out), "--workers", "1", cwd=tmp_path)
        assert result.returncode == 1
        line = error_line(result)
        assert "No space left on device" in line and line.endswith(f"nothing written to {out}")
        assert list(small.iterdir()) == []
