"""Checksums of a .beton: recorded by `visim convert` in the manifest, verified by `visim check`
and, for a file small enough, before pre-training and evaluation.

A .beton is cut into CHUNK_BYTES pieces and each piece gets its own SHA-256, so that a
damaged file names the damaged byte ranges, and through FFCV's allocation table the images
stored there, rather than only saying that something somewhere differs. SHA-256 because
Python's hashlib runs it at about 1.5 GB/s on the project's CPU machine (SHA extensions),
faster than BLAKE2 or MD5 there; a file-level digest would add a second pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

ALGORITHM = "sha256"
CHUNK_BYTES = 8 * 2**20  # 12,800 digests (about 1 MB of manifest) for a 100 GB ImageNet
# pretrain and eval verify a .beton up to this size before any work: about a second on the
# project's CPU machine; a larger one is left to `visim check`, and they say so.
AUTO_VERIFY_BYTES = 2 * 2**30
# show(done_bytes, total_bytes) as the file is read
ByteProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class Checksums:
    algorithm: str
    chunk_bytes: int
    size: int  # the file's length in bytes
    chunks: list[str]  # hex digest of each chunk, in file order

    def to_json(self) -> dict:
        return asdict(self)


def checksums_from_json(value: object) -> Checksums | None:
    """The manifest's recorded checksums; None when it has none (converted before they were
    recorded) or they are not in a form this version knows."""
    if not isinstance(value, dict):
        return None
    try:
        found = Checksums(**value)
    except TypeError:
        return None
    if found.algorithm != ALGORITHM or found.chunk_bytes < 1:
        return None
    return found


def chunk_digests(path: Path, chunk_bytes: int, progress: ByteProgress | None = None) -> list[str]:
    """The digest of each chunk_bytes piece of `path`, in order (the last may be shorter)."""
    total = path.stat().st_size
    digests, done = [], 0
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(chunk_bytes)
        view = memoryview(buffer)
        while read := handle.readinto(buffer):
            digests.append(hashlib.new(ALGORITHM, view[:read]).hexdigest())
            done += read
            if progress is not None:
                progress(done, total)
    return digests


def compute_checksums(path: Path, progress: ByteProgress | None = None) -> Checksums:
    size = path.stat().st_size
    return Checksums(ALGORITHM, CHUNK_BYTES, size, chunk_digests(path, CHUNK_BYTES, progress))


def damaged_ranges(
    path: Path, recorded: Checksums, progress: ByteProgress | None = None
) -> list[tuple[int, int]]:
    """[(start, end)) byte ranges of `path` whose digest differs from `recorded`'s; the
    caller has checked that the size is the recorded one."""
    found = chunk_digests(path, recorded.chunk_bytes, progress)
    size = recorded.size
    return [
        (index * recorded.chunk_bytes, min(size, (index + 1) * recorded.chunk_bytes))
        for index, (now, then) in enumerate(zip(found, recorded.chunks, strict=True))
        if now != then
    ]
