"""Development sessions: tests, lint and the throughput benchmarks.

Every session installs visim into its own virtualenv with the torch/torchvision pair in
constraints/dev.txt, which imports together on the project's CPU machines.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

PYTHON = "3.11"
CONSTRAINTS = ("-c", "constraints/dev.txt")
BENCH_IMAGES = Path("benchmarks/data/bench-images")  # generated once, not in git
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def install_visim(session: nox.Session, extras: str) -> None:
    """Install visim with `extras`; FFCV first needs its system libraries."""
    if "ffcv" in extras or "all" in extras:
        session.run("bash", "scripts/install-system-packages.sh", external=True)
    session.install(*CONSTRAINTS, "-e", f".[{extras}]")


def install_fashion_mnist(session: nox.Session) -> None:
    """Debian's Fashion-MNIST (30 MB): the real data set the IDX reader and benchmark use."""
    if FASHION_MNIST.is_dir():
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.warn(f"{FASHION_MNIST} missing: apt-get install dataset-fashion-mnist (as root)")
    else:
        install = "apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist"
        session.run("bash", "-c", install, external=True)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (CPU; FFCV and DALI included)."""
    install_visim(session, "ffcv,dali,plots,dev")
    install_fashion_mnist(session)
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff==0.17.6")  # pinned: format output changes between releases
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def bench_pipeline(session: nox.Session) -> None:
    """Source images/s of every loader backend on the same photo-like JPEGs, side by side.

    The images are generated once into benchmarks/data/ (FFCV's .beton of them is made once
    beside them); options after -- go to `visim bench pipeline`, e.g. -- --seconds 5.
    """
    install_visim(session, "ffcv,dali")
    if not BENCH_IMAGES.is_dir():
        # Generated under another name and renamed when complete: an interrupted run is redone.
        partial = BENCH_IMAGES.with_name(BENCH_IMAGES.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        session.run("python", "benchmarks/make_bench_images.py", str(partial), "--images", "1000")
        partial.rename(BENCH_IMAGES)
    session.run(
        "visim", "bench", "pipeline", str(BENCH_IMAGES),
        "--backends", "ffcv,ffcv-decode-twice,dali,torch,synthetic",
        "--size", "224", "--batch-size", "64", "--seconds", "20",
        "--json", "benchmarks/pipeline.json", "--markdown", "benchmarks/pipeline.md",
        *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON)
def bench_train(session: nox.Session) -> None:
    """Training image pairs/s per setting and backend, with each backend's data stall.

    The profile follows the machine (gpu where CUDA is available); options after -- go to
    `visim bench train`, e.g. nox -s bench_train -- --profile gpu --archs resnet50.
    """
    install_visim(session, "ffcv,dali")
    outputs = ("--json", "benchmarks/train.json", "--markdown", "benchmarks/train.md")
    session.run("visim", "bench", "train", *outputs, *session.posargs)


@nox.session(python=PYTHON)
def bench_scaling(session: nox.Session) -> None:
    """Time per epoch and peak memory as the data set and the batch grow.

    Options after -- go to `visim bench scaling`, e.g. nox -s bench_scaling -- --sizes 1024,4096.
    """
    install_visim(session, "ffcv,dali")
    outputs = ("--json", "benchmarks/scaling.json", "--markdown", "benchmarks/scaling.md")
    session.run("visim", "bench", "scaling", *outputs, *session.posargs)


@nox.session(python=PYTHON)
def fashion_mnist(session: nox.Session) -> None:
    """SimSiam vs VI-SimSiam on Fashion-MNIST, same budget, against a random init.

    Options after -- go to benchmarks/fashion_mnist.py, e.g. nox -s fashion_mnist -- --epochs 4.
    """
    install_fashion_mnist(session)
    install_visim(session, "plots")
    session.run("python", "benchmarks/fashion_mnist.py", *session.posargs)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Every benchmark in turn, each with its own defaults: pipeline, train, scaling."""
    for name in ("bench_pipeline", "bench_train", "bench_scaling"):
        session.notify(name, posargs=[])
