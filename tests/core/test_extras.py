"""Every optional extra is checked one way: its module really imported."""

import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from visim.core import extras
from visim.core.extras import Extra, missing


def test_an_importable_extra_is_not_missing():
    assert missing(Extra("plots", "json")) is None


def test_a_missing_extra_gives_its_install_command_after_its_system_packages():
    extra = Extra("thing", "visim_no_such_module", system="apt-get install libthing")
    assert missing(extra) == "apt-get install libthing && pip install 'visim[thing]'"


def test_a_missing_parent_package_counts_as_the_extra_missing():
    extra = Extra("dali", "visim_no_such_package.dali", note="CUDA 12: 'visim[dali-cu12]'")
    assert missing(extra) == "pip install 'visim[dali]'   (CUDA 12: 'visim[dali-cu12]')"


def test_an_extra_that_is_there_but_fails_to_load_says_why(tmp_path, monkeypatch):
    # Installed, but needing something that is not: the command, and the reason it failed.
    (tmp_path / "visim_broken_extra.py").write_text("import visim_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fix = missing(Extra("broken", "visim_broken_extra"))
    assert fix is not None
    assert fix.startswith("pip install 'visim[broken]'")
    assert "import failed: No module named 'visim_missing_dependency'" in fix
    sys.modules.pop("visim_broken_extra", None)


def test_every_extra_checked_is_an_extra_the_package_declares():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    declared = pyproject["project"]["optional-dependencies"]
    checked = [extras.PLOTS, extras.PARQUET, extras.FFCV, extras.DALI, *extras.TRACKERS.values()]
    assert [extra.name for extra in checked if extra.name not in declared] == []
