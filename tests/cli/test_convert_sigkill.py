"""`visim convert` killed outright (SIGKILL, no cleanup possible) at several moments: nothing
appears at OUT, and the next successful convert to the same OUT leaves no stray temporary."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

pytest.importorskip("ffcv", reason="the ffcv extra is not installed")


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".tmp-" in p.name]


def kill_when(args: list[str], ready: Callable[[], bool]) -> list[psutil.Process]:
    """Run `visim ARGS` and SIGKILL its main process once ready() is true; the processes it
    had started by then."""
    process = subprocess.Popen(
        [sys.executable, "-m", "visim", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        while not ready():
            assert process.poll() is None, "convert ended before the moment to kill it"
            assert time.monotonic() < deadline, "the moment to kill convert never came"
            time.sleep(0.01)
        started = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.kill()
        process.wait()
    return started


def after(seconds: float, then: Callable[[], bool] = lambda: True) -> Callable[[], bool]:
    """True once `then` has held for `seconds` (measured from the first call)."""
    held_since: list[float] = []

    def ready() -> bool:
        if not then():
            return False
        held_since[:1] = held_since[:1] or [time.monotonic()]
        return time.monotonic() - held_since[0] >= seconds

    return ready


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["while-starting", "as-writing-starts", "while-writing"])
def test_a_killed_convert_leaves_nothing_at_out_and_the_next_run_cleans_up(tmp_path, moment):
    out = tmp_path / "out" / "d.beton"
    out.parent.mkdir()
    writing = lambda: bool(temporaries(out.parent))  # noqa: E731
    ready = {
        "while-starting": after(0.5),
        "as-writing-starts": writing,
        "while-writing": after(1.0, writing),
    }[moment]
    # Far more images than can be written before the kill.
    started = kill_when(["convert", "demo:40000", str(out), "--workers", "1"], ready)
    if moment != "while-starting":
        assert temporaries(out.parent), "killed before anything was written"
    assert not out.exists() and not out.with_suffix(".json").exists()
    # Its writer processes end with it: the kernel kills them (no timing: the wait only
    # bounds how long a failure takes to show).
    _, alive = psutil.wait_procs(started, timeout=60)
    for survivor in alive:
        survivor.kill()
    assert alive == []

    done = subprocess.run(
        [sys.executable, "-m", "visim", "convert", "demo:60", str(out), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.parent.iterdir()) == ["d.beton", "d.json"]
