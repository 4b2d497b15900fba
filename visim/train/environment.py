"""What this machine offers: versions, devices, and which loader backends can run here.

Used by `visim info`, written as env.json beside every run, and recorded with benchmarks.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import torch

from visim.pipeline.backends.loader_workers import usable_cores
from visim.pipeline.backends.registry import BACKENDS, missing_extra

# Distribution names whose versions matter for reproducing a run.
TRACKED_PACKAGES: dict[str, str | tuple[str, ...]] = {
    "torch": "torch",
    "torchvision": "torchvision",
    "accelerate": "accelerate",
    "numpy": "numpy",
    "DALI": ("nvidia-dali-cuda130", "nvidia-dali-cuda120"),
    "FFCV": "ffcv",
    "numba": "numba",
    "visim": "visim",
}


def package_version(distributions: str | tuple[str, ...]) -> str | None:
    names = (distributions,) if isinstance(distributions, str) else distributions
    for name in names:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cuda_devices() -> list[dict]:
    if not torch.cuda.is_available():
        return []
    devices = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        devices.append(
            {
                "index": index,
                "name": props.name,
                "memory_gib": round(props.total_memory / 2**30, 1),
                "capability": f"{props.major}.{props.minor}",
                # bf16 tensor cores arrive with Ampere (compute capability 8.0).
                "bf16": props.major >= 8,
            }
        )
    return devices


def nvidia_driver() -> str | None:
    """The NVIDIA driver's version as nvidia-smi reports it; None without a GPU or the tool."""
    if not torch.cuda.is_available():
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split()
    return lines[0] if out.returncode == 0 and lines else None


def backend_availability() -> dict[str, dict]:
    """For each backend: usable here or not, and the command that would make it usable."""
    report = {}
    for name, backend in BACKENDS.items():
        fix = missing_extra(backend)
        report[name] = {
            "usable": fix is None,
            "fix": fix or "",
            "reads": backend.reads,
            "note": backend.cpu_note if fix is None and not torch.cuda.is_available() else "",
        }
    return report


# Where `git_commit` looks by default: the visim package's own directory.
PACKAGE_DIR = Path(__file__).resolve().parent.parent

# Appended to the commit when the code that ran differs from it, as `git describe --dirty`.
DIRTY_SUFFIX = "-dirty"


def _git(where: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the checkout visim runs from (or `path`), if it is a git checkout,
    with DIRTY_SUFFIX when tracked files under that directory have uncommitted changes:
    a benchmark run from an edited tree must not claim the commit's name alone."""
    where = path or PACKAGE_DIR
    head = _git(where, "rev-parse", "HEAD")
    if not head:
        return None
    changes = _git(where, "status", "--porcelain", "--untracked-files=no", "--", ".")
    return head + DIRTY_SUFFIX if changes else head


def environment_report() -> dict:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": usable_cores(),
        "packages": {label: package_version(dist) for label, dist in TRACKED_PACKAGES.items()},
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "nvidia_driver": nvidia_driver(),
        "cuda_devices": cuda_devices(),
        "backends": backend_availability(),
        "git_commit": git_commit(),
    }


def cpu_model() -> str | None:
    """The processor as Linux reports it, with the vector instructions torch's CPU kernels use."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            text = cpuinfo.read()
    except OSError:
        text = ""
    return (
        describe_cpu(text, torch.backends.cpu.get_cpu_capability()) or platform.processor() or None
    )


def describe_cpu(cpuinfo: str, kernels: str) -> str | None:
    """The first processor of `cpuinfo`: its name, family and model numbers, and `kernels`.

    Virtual machines often name only a brand ("AMD EPYC"), and two processors under one brand
    whose torch runs other vector kernels (AVX2 or AVX512) round differently, so the same
    seed trains to other weights on each (docs/results.md): a record must tell them apart.
    """
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block ends at the first blank line
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    if "model name" not in fields:
        return None
    numbers = [
        f"{label} {fields[key]}"
        for key, label in (("cpu family", "family"), ("model", "model"))
        if key in fields
    ]
    return f"{fields['model name']} ({', '.join([*numbers, f'torch kernels {kernels}'])})"
