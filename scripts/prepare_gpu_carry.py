"""Prepare .gpu-carry/, what travels to a GPU machine that lacks FFCV and cannot download it.

    python3.12 scripts/prepare_gpu_carry.py [--out .gpu-carry]

Run it with the GPU machine's Python version (3.12 for the H200 image): it builds an FFCV
1.0.2 wheel for this interpreter and collects the shared libraries the wheel's extension links
that are not part of every glibc system (OpenCV core/imgproc, libturbojpeg and what they pull
in), copied from this machine's installed packages, which the wheel was built against:

    .gpu-carry/wheels/ffcv-1.0.2-cp312-*.whl
    .gpu-carry/lib/lib*.so.*          (the machine loads them through LD_LIBRARY_PATH)
    .gpu-carry/manifest.json          every file with its size, where each library came from,
                                      what they need of the machine (glibc, libstdc++ versions)

FFCV's Python dependencies that `import ffcv` and visim use (numba, numpy, opencv's cv2, PIL,
tqdm) are on the GPU image, so the wheel is installed there with --no-deps. Nothing here is
committed (.gpu-carry/ is git-ignored). It prints the sizes and whether everything fits in
the 64 MiB a call may carry; scripts/check_gpu_carry.sh then proves the folder works alone.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FFCV = "ffcv==1.0.2"
CARRY_LIMIT_MIB = 64  # all that may travel with one call, working tree included
# Libraries every glibc system with a working CPython and torch has; carrying them would
# replace the machine's own (glibc must match its loader, libstdc++ must be at least torch's).
SYSTEM_LIBRARIES = re.compile(
    r"^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|libz)\.so"
)
_LDD_LINE = re.compile(r"^\s*(\S+) => (\S+) \(0x[0-9a-f]+\)$")
_SYMBOL_VERSION = re.compile(r"\b(GLIBC|GLIBCXX)_(\d+(?:\.\d+)*)\b")


def build_wheel(into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for old in into.glob("ffcv-*.whl"):
        old.unlink()
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(into), FFCV]
    subprocess.run(command, check=True)
    (wheel,) = into.glob("ffcv-*.whl")
    return wheel


def extension_of(wheel: Path, scratch: Path) -> Path:
    shutil.unpack_archive(wheel, scratch, format="zip")
    (extension,) = scratch.glob("ffcv/_libffcv*.so")
    return extension


def linked_libraries(binary: Path) -> dict[str, Path]:
    """name -> resolved path of every library `binary` loads, directly or not (ldd)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        match = _LDD_LINE.match(line)
        if match is None:
            continue
        name, path = match.groups()
        if path == "not":
            raise SystemExit(f"error: {binary.name} needs {name}, which is not installed here")
        found[name] = Path(path).resolve()
    return found


def symbol_versions(files: list[Path]) -> dict[str, str]:
    """The highest GLIBC_ and GLIBCXX_ symbol version any of `files` asks for, e.g.
    {"GLIBC": "2.34", "GLIBCXX": "3.4.30"}: what the GPU machine's libraries must offer."""
    highest: dict[str, tuple[int, ...]] = {}
    for path in files:
        dynamic = subprocess.run(
            ["objdump", "-T", str(path)], capture_output=True, text=True, check=True
        ).stdout
        for family, version in _SYMBOL_VERSION.findall(dynamic):
            parsed = tuple(int(part) for part in version.split("."))
            highest[family] = max(highest.get(family, parsed), parsed)
    return {family: ".".join(map(str, v)) for family, v in sorted(highest.items())}


def mebibytes(size: int) -> str:
    return f"{size / 2**20:.2f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".gpu-carry"))
    out = parser.parse_args().out
    libs = out / "lib"
    shutil.rmtree(libs, ignore_errors=True)
    libs.mkdir(parents=True)
    wheel = build_wheel(out / "wheels")
    with tempfile.TemporaryDirectory() as scratch:
        extension = extension_of(wheel, Path(scratch))
        linked = linked_libraries(extension)
        carried = {n: p for n, p in linked.items() if not SYSTEM_LIBRARIES.match(n)}
        # What the extension and the carried libraries ask of the machine's own glibc/libstdc++.
        machine_needs = symbol_versions([extension, *carried.values()])
    for name, path in sorted(carried.items()):
        shutil.copy2(path, libs / name)  # under the name the loader asks for
    files = [wheel, *sorted(libs.iterdir())]
    sizes = {str(path.relative_to(out)): path.stat().st_size for path in files}
    total = sum(sizes.values())
    manifest = {
        "python": f"cp{sys.version_info.major}{sys.version_info.minor}",
        "wheel": wheel.name,
        "files": sizes,
        "library_sources": {name: str(path) for name, path in sorted(carried.items())},
        "total_bytes": total,
        "left_on_the_machine": sorted(set(linked) - set(carried)),
        "machine_needs": machine_needs,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    width = max(map(len, sizes))
    for name, size in sizes.items():
        print(f"{name:<{width}}  {mebibytes(size):>10}")
    verdict = "fits" if total < CARRY_LIMIT_MIB * 2**20 else "does NOT fit"
    print(f"{'total':<{width}}  {mebibytes(total):>10}  ({verdict} in {CARRY_LIMIT_MIB} MiB)")
    print(f"the machine must offer: {manifest['machine_needs']}")
    print(f"expected on the machine, not carried: {', '.join(manifest['left_on_the_machine'])}")


if __name__ == "__main__":
    main()
