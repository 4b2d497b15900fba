"""Is a .beton what `visim convert` wrote? Its structure, then its recorded checksums.

Structure (BetonSource's checks, before anything is read): FFCV's header and tables parse,
the manifest beside it agrees on the fields and the image count, the file is as long as
convert wrote it and holds every image's bytes. Content: each chunk's SHA-256 against the
manifest's (beton_checksums), which catches what the structure cannot, such as images
overwritten in place. Every problem is a SourceError of one line that names the file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visim.pipeline.convert.beton_checksums import (
    AUTO_VERIFY_BYTES,
    ByteProgress,
    checksums_from_json,
    damaged_ranges,
)
from visim.pipeline.convert.manifest import read_manifest
from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.beton import BetonSource

MIB = 2**20
IMAGES_NAMED = 5  # in a damage report; the count says how many more


@dataclass(frozen=True)
class BetonCheck:
    path: Path
    images: int
    size: int  # bytes
    verified: bool  # whether the checksums were compared (and matched)
    has_checksums: bool  # whether the manifest records any
    seconds: float  # spent on the checksums


def check_beton(path: Path, *, verify: bool, progress: ByteProgress | None = None) -> BetonCheck:
    """Check `path`'s structure and, with `verify` and recorded checksums, its content.

    SourceError naming the file and what is wrong; a damaged file names its damaged byte
    ranges and the images stored there.
    """
    path = Path(path)
    manifest = read_manifest(path)
    source = BetonSource(path, manifest.split)
    recorded = checksums_from_json(manifest.checksums)
    size = path.stat().st_size
    if not verify or recorded is None:
        return BetonCheck(path, len(source), size, False, recorded is not None, 0.0)
    started = time.perf_counter()
    damaged = damaged_ranges(path, recorded, progress)
    if damaged:
        raise SourceError(damage_report(source, damaged, recorded.chunk_bytes))
    return BetonCheck(path, len(source), size, True, True, time.perf_counter() - started)


def damage_report(source: BetonSource, damaged: list[tuple[int, int]], chunk_bytes: int) -> str:
    """One line: where the file differs from what convert wrote, and which images are there."""
    regions = ", ".join(f"{start / MIB:.0f}-{end / MIB:.0f} MiB" for start, end in damaged[:3])
    if len(damaged) > 3:
        regions += f" and {len(damaged) - 3} more"
    images = source.images_in(damaged)
    return (
        f"{source.path}: damaged: {len(damaged)} of its {chunk_bytes // MIB} MiB pieces differ "
        f"from the checksums `visim convert` recorded (bytes {regions}), holding "
        f"{describe_images(images)}; convert it again from its source"
    )


def describe_images(images: np.ndarray) -> str:
    if len(images) == 0:
        return "no image's bytes (FFCV's header and tables, or unused space)"
    named = ", ".join(str(index) for index in images[:IMAGES_NAMED])
    more = f" and {len(images) - IMAGES_NAMED} more" if len(images) > IMAGES_NAMED else ""
    return f"{len(images)} images (indices {named}{more})"


def verify_before_use(path: Path, option: str, log: Callable[[str], None]) -> None:
    """The check pretrain and eval make of a .beton before any work: structure always; the
    checksums when the file is at most AUTO_VERIFY_BYTES, with a line saying how to verify a
    larger one (`log` prints it). SourceError as check_beton."""
    size = Path(path).stat().st_size
    found = check_beton(Path(path), verify=size <= AUTO_VERIFY_BYTES)
    if found.verified:
        return
    if not found.has_checksums:
        log(
            f"{option} {path}: its manifest records no checksums (converted by an older visim): "
            "its content cannot be verified; convert it again to add them"
        )
    else:
        log(
            f"{option} {path}: {size / 2**30:.1f} GiB, not verified before use (over "
            f"{AUTO_VERIFY_BYTES / 2**30:.0f} GiB); verify it with: visim check {path}"
        )
