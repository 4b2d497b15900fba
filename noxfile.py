"""Development sessions: tests, lint, the GPU machine's stack, and the throughput benchmarks.

The sessions run on the Python that runs nox, whichever it is (3.10-3.13), and install visim
into their own virtualenv with the torch/torchvision pair in constraints/dev.txt, which imports
together on the project's CPU machines. device_stack is the exception: it rebuilds the GPU
machine's software (constraints/device.txt) on Python 3.12.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

# None: the interpreter running nox, so no session needs a Python the machine lacks.
PYTHON = None
CONSTRAINTS = ("-c", "constraints/dev.txt")
DEVICE_PYTHON_VERSION = "3.12"  # the GPU machine's Python
DEVICE_CONSTRAINTS = ("-c", "constraints/device.txt")
# What the GPU machine has preinstalled of visim's needs and the test suite's: no tomli-w,
# FFCV or DALI (the tests that need those skip).
DEVICE_PACKAGES = (
    "torch", "torchvision", "accelerate", "numpy", "numba", "rich", "typer", "safetensors",
    "pillow", "matplotlib", "opencv-python-headless", "pytest", "pytest-timeout",
)  # fmt: skip
BENCH_IMAGES = Path("benchmarks/data/bench-images")  # generated once, not in git
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def runnable_python(version: str) -> str:
    """`python{version}` from PATH when it runs, else pyenv's newest {version}.x build, else the
    bare name (nox then reports it missing). A pyenv shim is on PATH even for versions pyenv has
    not enabled, and fails when run: it does not count. `nox --force-python PATH` overrides."""
    name = f"python{version}"
    found = shutil.which(name)
    if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
        return found
    builds = sorted(
        Path.home().glob(f".pyenv/versions/{version}.*/bin/{name}"),
        key=lambda path: [int(part) for part in path.parts[-3].split(".") if part.isdigit()],
    )
    return str(builds[-1]) if builds else name


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


def install_device_stack(session: nox.Session) -> None:
    """The GPU machine's packages, then visim without its dependency list: pip check proves
    that those packages cover it."""
    session.install(*DEVICE_CONSTRAINTS, *DEVICE_PACKAGES)
    session.install("--no-deps", "-e", ".")
    session.run("python", "-m", "pip", "check")


@nox.session(python=runnable_python(DEVICE_PYTHON_VERSION))
def device_stack(session: nox.Session) -> None:
    """visim on the GPU machine's software: Python 3.12, torch 2.11, only the packages there.

    Installs visim without its dependency list (pip check then proves the machine's packages
    cover it), then runs `visim info`, a short synthetic pre-training and the CPU test suite
    (options after -- go to pytest).
    """
    install_device_stack(session)
    session.run("visim", "info")
    run_dir = Path(session.create_tmp()) / "synthetic-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    session.run(
        "visim", "pretrain", "--out", str(run_dir), "--backend", "synthetic",
        "--method", "vi-simsiam", "--arch", "resnet18", "--recipe", "cifar", "--size", "32",
        "--batch-size", "16", "--epochs", "1", "--max-steps", "4", "--log-every", "2",
        "--precision", "fp32", "--quiet",
    )  # fmt: skip
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=runnable_python(DEVICE_PYTHON_VERSION))
def gpu_carry(session: nox.Session) -> None:
    """FFCV for the GPU machine: .gpu-carry/ built for Python 3.12, then proven to work alone.

    scripts/prepare_gpu_carry.py builds the wheel and collects the libraries it links;
    scripts/check_gpu_carry.sh hides this machine's copies of them (a mount namespace: needs
    root), installs the wheel as the GPU machine does and runs the FFCV tests (options after --
    go to pytest).
    """
    session.run("bash", "scripts/install-system-packages.sh", external=True)
    install_device_stack(session)
    session.run("python", "scripts/prepare_gpu_carry.py")
    session.run("bash", "scripts/check_gpu_carry.sh", "python", *session.posargs, external=True)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and format check."""
    session.install("ruff==0.17.6")  # pinned: format output changes between releases
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy over visim, configured in pyproject.toml (FFCV, numba and DALI read as untyped, so
    their extras need not be installed)."""
    install_visim(session, "plots,parquet")
    session.install("mypy==2.4.1")
    session.run("mypy")


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
        session.run(
            "python", "benchmarks/throughput/make_bench_images.py", str(partial), "--images", "1000"
        )
        partial.rename(BENCH_IMAGES)
    session.run(
        "visim", "bench", "pipeline", str(BENCH_IMAGES),
        "--backends", "ffcv,ffcv-decode-twice,dali,torch,synthetic",
        "--size", "224", "--batch-size", "64", "--seconds", "20",
        "--json", "benchmarks/throughput/pipeline.json",
        "--markdown", "benchmarks/throughput/pipeline.md",
        *session.posargs,
    )  # fmt: skip


@nox.session(python=PYTHON)
def bench_train(session: nox.Session) -> None:
    """Training image pairs/s per setting and backend, with each backend's data stall.

    The profile follows the machine (gpu where CUDA is available); options after -- go to
    `visim bench train`, e.g. nox -s bench_train -- --profile gpu --archs resnet50.
    """
    install_visim(session, "ffcv,dali")
    outputs = (
        "--json",
        "benchmarks/throughput/train.json",
        "--markdown",
        "benchmarks/throughput/train.md",
    )
    session.run("visim", "bench", "train", *outputs, *session.posargs)


@nox.session(python=PYTHON)
def bench_scaling(session: nox.Session) -> None:
    """Time per epoch and peak memory as the data set and the batch grow.

    Options after -- go to `visim bench scaling`, e.g. nox -s bench_scaling -- --sizes 1024,4096.
    """
    install_visim(session, "ffcv,dali")
    outputs = (
        "--json",
        "benchmarks/throughput/scaling.json",
        "--markdown",
        "benchmarks/throughput/scaling.md",
    )
    session.run("visim", "bench", "scaling", *outputs, *session.posargs)


@nox.session(python=PYTHON)
def fashion_mnist(session: nox.Session) -> None:
    """SimSiam vs VI-SimSiam on Fashion-MNIST, same budget, against a random init.

    Options after -- go to benchmarks/method/fashion_mnist.py, e.g.
    nox -s fashion_mnist -- --epochs 4.
    """
    install_fashion_mnist(session)
    install_visim(session, "plots")
    session.run("python", "benchmarks/method/fashion_mnist.py", *session.posargs)


@nox.session(python=PYTHON)
def uncertainty_benchmark(session: nox.Session) -> None:
    """Kappa against the uncertainty baselines on four data sets, two budgets, three seeds.

    Resumable (rows already recorded are skipped); on a 2-core CPU with nothing else running,
    about two hours for --split test (the final report) and 1.5 for --split val (the screen).
    Options after -- go to benchmarks/method/uncertainty_benchmark.py, e.g. nox -s
    uncertainty_benchmark -- --split test --sets digits,textures. scikit-learn and
    scikit-image ship two of the data sets (digits, the texture photos).
    """
    install_fashion_mnist(session)
    install_visim(session, "plots")
    session.install(*CONSTRAINTS, "scikit-learn", "scikit-image")
    session.run("python", "benchmarks/method/uncertainty_benchmark.py", *session.posargs)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Every benchmark in turn, each with its own defaults: pipeline, train, scaling."""
    for name in ("bench_pipeline", "bench_train", "bench_scaling"):
        session.notify(name, posargs=[])
