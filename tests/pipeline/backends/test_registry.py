import subprocess
import sys

import pytest

from visim.core import extras
from visim.pipeline.backends.registry import MissingExtraError, get_backend, require_backend


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
