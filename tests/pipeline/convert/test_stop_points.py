"""A stop signal during a conversion is raised at one of the conversion's own stop points,
never inside whatever library call the main thread is in (where it could leave a lock held
and hang the process at exit)."""

import multiprocessing
import os
import signal
import threading
import traceback

import pytest

from visim.pipeline.convert.stop_points import never_stop, stop_points


def raised_from(error: BaseException) -> str:
    """The function the exception was raised in."""
    return traceback.extract_tb(error.__traceback__)[-1].name


def test_a_signal_is_noted_and_raised_by_the_check():
    # What SIGINT did before: a process started in the background by a shell ignores it.
    before = signal.getsignal(signal.SIGINT)
    with stop_points() as check:
        check()  # nothing noted yet
        os.kill(os.getpid(), signal.SIGINT)
        noted = [n for n in range(1000)]  # bytecode runs on: the handler has run by now
        with pytest.raises(KeyboardInterrupt) as stopped:
            check()
    assert len(noted) == 1000
    assert raised_from(stopped.value) == "check"
    assert signal.getsignal(signal.SIGINT) == before


def test_sigterm_stops_like_ctrl_c():
    with pytest.raises(KeyboardInterrupt), stop_points() as check:
        os.kill(os.getpid(), signal.SIGTERM)
        sum(range(1000))
        check()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_signal_after_the_last_check_is_raised_when_the_block_ends():
    with pytest.raises(KeyboardInterrupt), stop_points():
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))


def test_outside_the_main_thread_nothing_is_installed():
    checks = []

    def convert_elsewhere() -> None:
        with stop_points() as check:
            checks.append(check)

    worker = threading.Thread(target=convert_elsewhere)
    worker.start()
    worker.join()
    assert checks == [never_stop]


@pytest.mark.ffcv
def test_ctrl_c_while_writing_stops_at_a_stop_point_and_leaves_nothing(tmp_path):
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    from visim.pipeline.convert.to_beton import WriteSettings, convert_source
    from visim.pipeline.sources.demo import DemoSource

    def progress(phase: str, done: int, total: int) -> None:
        if phase == "writing" and done == 0:  # the writers have just started
            os.kill(os.getpid(), signal.SIGINT)

    out = tmp_path / "demo.beton"
    with pytest.raises(KeyboardInterrupt) as stopped:
        convert_source(DemoSource(400), out, WriteSettings(workers=2), progress=progress)
    assert raised_from(stopped.value) == "check"
    assert list(tmp_path.iterdir()) == []
    assert multiprocessing.active_children() == []
