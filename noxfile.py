"""Development sessions: tests, lint and the throughput benchmarks.

Every session installs visim into its own virtualenv with the torch/torchvision pair in
constraints/dev.txt, which imports together on the project's CPU machines.
"""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints/dev.txt")


def install_visim(session: nox.Session, extras: str) -> None:
    """Install visim with `extras`; FFCV first needs its system libraries."""
    if "ffcv" in extras or "all" in extras:
        session.run("bash", "scripts/install-system-packages.sh", external=True)
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (CPU; FFCV and DALI included)."""
    install_visim(session, "ffcv,dali,plots,dev")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
