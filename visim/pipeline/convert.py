"""Write any ImageSource to an FFCV .beton plus its manifest, skipping unreadable images.

Items that may be corrupt (image files) are decoded once up front, so a bad one never
reaches FFCV's writer processes. Output goes to hidden temporary files in the target folder
that are renamed only when complete: an interrupted run leaves nothing at the output path.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from visim import __version__
from visim.pipeline.backends import MissingExtraError, get_backend
from visim.pipeline.manifest import (
    IMAGE_FIELD,
    LABEL_FIELD,
    Manifest,
    manifest_json,
    manifest_path,
)
from visim.pipeline.sources import ImageSource, SourceError, UnreadableImage
from visim.pipeline.torch_threads import kept_torch_threads
from visim.pipeline.worker_processes import leave_stops_to_parent, stop_signals_blocked

WRITE_MODES = ("smart", "jpg", "raw", "proportion")
MIN_PAGE_SIZE = 1 << 23  # FFCV's default page; larger only when one raw image needs more
SCAN_CHUNK = 32

# (phase, done, total): phase is "checking" (decoding every file once) or "writing".
ProgressCallback = Callable[[str, int, int], None]


def _no_progress(phase: str, done: int, total: int) -> None:
    """The default ProgressCallback: report nothing."""


def default_workers() -> int:
    """The cores this process may use, at most 8 (writing is rarely faster beyond)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, min(8, len(os.sched_getaffinity(0))))
    return max(1, min(8, os.cpu_count() or 1))


@dataclass(frozen=True)
class WriteSettings:
    """How images are stored in the .beton (FFCV RGBImageField options)."""

    max_resolution: int = 256  # longest side; larger images are shrunk, smaller kept
    write_mode: str = "smart"  # smart: raw up to smart_threshold bytes, JPEG above
    jpeg_quality: int = 90
    smart_threshold: int = 96 * 96 * 3  # CIFAR/MNIST/demo-sized images stay raw
    compress_probability: float = 0.5  # share of JPEGs in 'proportion' mode
    workers: int = field(default_factory=default_workers)

    def __post_init__(self) -> None:
        problems = []
        if self.write_mode not in WRITE_MODES:
            problems.append(f"write mode must be one of {', '.join(WRITE_MODES)}")
        if self.max_resolution < 8:
            problems.append(f"max resolution must be at least 8, got {self.max_resolution}")
        if not 1 <= self.jpeg_quality <= 100:
            problems.append(f"JPEG quality must be in [1, 100], got {self.jpeg_quality}")
        if self.smart_threshold < 0:
            problems.append(f"smart threshold must be non-negative, got {self.smart_threshold}")
        if not 0 <= self.compress_probability <= 1:
            problems.append(
                f"compress probability must be in [0, 1], got {self.compress_probability}"
            )
        if self.workers < 1:
            problems.append(f"workers must be at least 1, got {self.workers}")
        if problems:
            raise ValueError("invalid write settings: " + "; ".join(problems))

    @property
    def page_size(self) -> int:
        """A power of two that holds at least two raw images of the largest size."""
        largest = 3 * self.max_resolution**2
        return max(MIN_PAGE_SIZE, 1 << (2 * largest - 1).bit_length())


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    manifest: Manifest
    bytes_written: int
    seconds: float


class StrictModeError(RuntimeError):
    """Some items were unreadable and the caller asked for none to be skipped."""

    def __init__(self, skipped: list[dict[str, str]]) -> None:
        shown = "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:3])
        more = f" (and {len(skipped) - 3} more)" if len(skipped) > 3 else ""
        super().__init__(f"{len(skipped)} unreadable image(s): {shown}{more}")
        self.skipped = skipped


class _LabelledImages:
    """The (image, label) pairs FFCV's writer asks for by index."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.source.load(index), int(self.source.labels[index])


def _problem(source: ImageSource, index: int) -> str | None:
    """Why item `index` cannot be decoded, or None when it can."""
    try:
        source.load(index)
    except UnreadableImage as error:
        return error.reason
    return None


_scanned: ImageSource | None = None  # in each checking worker: the source it checks


def _start_scan_worker(source: ImageSource) -> None:
    global _scanned
    leave_stops_to_parent()
    _scanned = source


def _scan_worker_problem(index: int) -> str | None:
    return _problem(_scanned, index)


def _problems(source: ImageSource, workers: int) -> Iterator[str | None]:
    """_problem() of every item, in order, decoded by `workers` processes."""
    if workers == 1:
        yield from (_problem(source, i) for i in range(len(source)))
        return
    with stop_signals_blocked():
        pool = multiprocessing.Pool(workers, _start_scan_worker, (source,))
    with pool:
        yield from pool.imap(_scan_worker_problem, range(len(source)), chunksize=SCAN_CHUNK)


def find_readable(
    source: ImageSource, workers: int = 1, progress: ProgressCallback = _no_progress
) -> tuple[list[int], list[dict[str, str]]]:
    """(indices of decodable items, [{path, reason}] of the others)."""
    if not source.items_may_fail:
        return list(range(len(source))), []
    readable, skipped = [], []
    for index, problem in enumerate(_problems(source, workers)):
        if problem is None:
            readable.append(index)
        else:
            skipped.append({"path": source.describe(index), "reason": problem})
        if index % SCAN_CHUNK == 0 or index == len(source) - 1:
            progress("checking", index + 1, len(source))
    return readable, skipped


def _require_ffcv() -> None:
    """MissingExtraError with the install command unless FFCV's writer imports here."""
    try:
        with kept_torch_threads():  # importing ffcv sets them to 1
            import ffcv.writer  # noqa: F401 - importing is the check (it needs system libraries)
    except ImportError as error:
        raise MissingExtraError(
            f"visim convert needs FFCV ({error}); run: {get_backend('ffcv').install_hint}"
        ) from None


def _write_beton(
    source: ImageSource,
    indices: list[int],
    path: Path,
    settings: WriteSettings,
    progress: ProgressCallback,
) -> None:
    from ffcv.fields import IntField, RGBImageField

    from visim.pipeline.beton_writer import MonitoredDatasetWriter

    fields = {
        IMAGE_FIELD: RGBImageField(
            write_mode=settings.write_mode,
            max_resolution=settings.max_resolution,
            smart_threshold=settings.smart_threshold,
            jpeg_quality=settings.jpeg_quality,
            compress_probability=settings.compress_probability,
        ),
        LABEL_FIELD: IntField(),
    }
    writer = MonitoredDatasetWriter(
        str(path),
        fields,
        page_size=settings.page_size,
        num_workers=settings.workers,
        on_progress=lambda done: progress("writing", done, len(indices)),
    )
    writer.from_indexed_dataset(_LabelledImages(source), indices=indices)


def temporary_path(path: Path) -> Path:
    """Where `path` is written before it is complete: hidden, same folder, same filesystem."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _publish(pairs: list[tuple[Path, Path]]) -> None:
    """Rename each temporary into place; no stop signal can split the pair in between."""
    for temporary, _ in pairs:
        # On disk before the rename, so a crash cannot leave a short file under the real name.
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
    with stop_signals_blocked():
        for temporary, final in pairs:
            os.replace(temporary, final)


def convert_source(
    source: ImageSource,
    out: str | Path,
    settings: WriteSettings | None = None,
    *,
    force: bool = False,
    strict: bool = False,
    progress: ProgressCallback = _no_progress,
) -> ConvertResult:
    """Write `source` to `out` (a .beton) and its manifest (same name, .json)."""
    settings = settings or WriteSettings()
    out = Path(out)
    if out.suffix != ".beton":
        raise ValueError(f"output must end in .beton, got {out}")
    manifest_out = manifest_path(out)
    if not force:
        for existing in (out, manifest_out):
            if existing.exists():
                raise FileExistsError(f"{existing} already exists")
    _require_ffcv()
    started = time.perf_counter()
    readable, skipped = find_readable(source, settings.workers, progress)
    if strict and skipped:
        raise StrictModeError(skipped)
    if not readable:
        raise SourceError(f"no readable images in {source.location}")
    labels = source.labels[readable]
    counts = np.bincount(labels, minlength=len(source.classes))
    manifest = Manifest(
        classes=list(source.classes),
        num_images=len(readable),
        per_class={name: int(n) for name, n in zip(source.classes, counts, strict=True)},
        source=source.location,
        source_format=source.format,
        split=source.split,
        skipped=skipped,
        # Workers change how fast the file is written, never what is in it.
        settings={k: v for k, v in asdict(settings).items() if k != "workers"},
        visim_version=__version__,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    beton_tmp, manifest_tmp = temporary_path(out), temporary_path(manifest_out)
    try:
        _write_beton(source, readable, beton_tmp, settings, progress)
        manifest_tmp.write_text(manifest_json(manifest))
        _publish([(beton_tmp, out), (manifest_tmp, manifest_out)])
    finally:
        for leftover in (beton_tmp, manifest_tmp):
            leftover.unlink(missing_ok=True)
    return ConvertResult(out, manifest, out.stat().st_size, time.perf_counter() - started)
