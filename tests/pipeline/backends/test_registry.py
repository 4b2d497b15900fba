import subprocess
import sys

import pytest

from visim.core import extras
from visim.pipeline.backends.registry import (
    BACKENDS,
    MissingExtraError,
    get_backend,
    require_backend,
)


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="ffcv, dali, torch, synthetic"):
        get_backend("tfdata")


def test_missing_extra_names_the_install_command(monkeypatch):
    real_import_module = extras.importlib.import_module

    def without_ffcv(name, *args):
        if name == "ffcv":
            raise ModuleNotFoundError("No module named 'ffcv'", name="ffcv")
        return real_import_module(name, *args)

    monkeypatch.setattr(extras.importlib, "import_module", without_ffcv)
    with pytest.raises(MissingExtraError, match=r"pip install 'visim\[ffcv\]'"):
        require_backend("ffcv")
    assert require_backend("torch").name == "torch"


def test_a_broken_extra_reports_why_it_failed(monkeypatch):
    def broken(name, *args):
        raise OSError("libturbojpeg.so.0: cannot open shared object file")

    monkeypatch.setattr(extras.importlib, "import_module", broken)
    with pytest.raises(MissingExtraError, match="libturbojpeg"):
        require_backend("ffcv")


def test_checking_the_ffcv_extra_leaves_torchs_thread_count_alone():
    # Importing ffcv sets torch's thread count to 1 for the whole process; a fresh process,
    # since this one has imported ffcv already.
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    check = (
        "import torch; before = torch.get_num_threads(); "
        "from visim.pipeline.backends.registry import get_backend, missing_extra; "
        "assert missing_extra(get_backend('ffcv')) is None; "
        "print(before, torch.get_num_threads())"
    )
    command = [sys.executable, "-c", check]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = done.stdout.split()
    if before == "1":
        pytest.skip("torch runs on one thread here: nothing for ffcv to change")
    assert after == before


def test_each_backend_states_its_own_facts():
    # What other modules ask instead of comparing names (preflight, demo, info, benchmarks).
    assert [b.name for b in BACKENDS.values() if b.reads_beton] == ["ffcv"]
    assert [b.name for b in BACKENDS.values() if not b.reads_data] == ["synthetic"]
    assert get_backend("torch").most_workers() is None
    assert all(b.cpu_note for b in BACKENDS.values() if b.name in ("ffcv", "dali"))


def test_the_ffcv_worker_limit_is_numbas_thread_count():
    numba = pytest.importorskip("numba", reason="the ffcv extra is not installed")
    assert get_backend("ffcv").most_workers() == numba.config.NUMBA_NUM_THREADS
