import pytest

from visim.pipeline import backends
from visim.pipeline.backends import MissingExtraError, get_backend, require_backend


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="ffcv, dali, torch, synthetic"):
        get_backend("tfdata")


def test_missing_extra_names_the_install_command(monkeypatch):
    real_import_module = backends.importlib.import_module

    def without_ffcv(name, *args):
        if name == "ffcv":
            raise ModuleNotFoundError("No module named 'ffcv'", name="ffcv")
        return real_import_module(name, *args)

    monkeypatch.setattr(backends.importlib, "import_module", without_ffcv)
    with pytest.raises(MissingExtraError, match=r"pip install 'visim\[ffcv\]'"):
        require_backend("ffcv")
    assert require_backend("torch").name == "torch"


def test_a_broken_extra_reports_why_it_failed(monkeypatch):
    def broken(name, *args):
        raise OSError("libturbojpeg.so.0: cannot open shared object file")

    monkeypatch.setattr(backends.importlib, "import_module", broken)
    with pytest.raises(MissingExtraError, match="libturbojpeg"):
        require_backend("ffcv")
