"""The development tools are pinned once in pyproject.toml, and the other pins agree with it."""

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def dev_pin(tool: str) -> str:
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    (pin,) = [spec for spec in dev["dev"] if spec.startswith(f"{tool}==")]
    return pin.split("==")[1]


def test_pre_commit_runs_the_ruff_release_of_the_dev_extra():
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    (rev,) = re.findall(r"ruff-pre-commit\n\s+rev: v(\S+)", config)
    assert rev == dev_pin("ruff")


def test_nox_sessions_install_the_tool_releases_of_the_dev_extra():
    noxfile = (ROOT / "noxfile.py").read_text()
    for tool in ("ruff", "mypy"):
        assert set(re.findall(rf'"{tool}==([^"]+)"', noxfile)) == {dev_pin(tool)}
