"""Write any ImageSource to an FFCV .beton plus its manifest, skipping unreadable images.

Items that may be corrupt (image files) are decoded once up front (readable.py), so a bad
one never reaches FFCV's writer processes. Every image is shrunk to --max-resolution before
FFCV sees it (beton_writer.fit_within), so any shape encodes, a 1xN strip included; an image
that FFCV's encoder still raises on is skipped and listed like an unreadable one, and the
file is written again without it. Output goes to hidden temporary files in the target folder that
are renamed only when complete (temporaries.py): an interrupted run leaves nothing at the
output path, and the temporaries of runs killed outright are removed by the next run to the
same path. Ctrl-C and SIGTERM are acted on at the conversion's stop points (stop_points.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from visim import __version__
from visim.core import extras
from visim.pipeline.backends.loader_workers import usable_cores
from visim.pipeline.backends.registry import MissingExtraError
from visim.pipeline.convert.beton_checksums import Checksums, compute_checksums
from visim.pipeline.convert.manifest import (
    IMAGE_FIELD,
    LABEL_FIELD,
    Manifest,
    manifest_json,
    manifest_path,
)
from visim.pipeline.convert.readable import ProgressCallback, find_readable, no_progress
from visim.pipeline.convert.stop_points import StopCheck, stop_points
from visim.pipeline.convert.temporaries import publish, remove_stale_temporaries, temporary_path
from visim.pipeline.convert.worker_processes import WorkerDied
from visim.pipeline.sources.base import ImageSource, SourceError

WRITE_MODES = ("smart", "jpg", "raw", "proportion")
MIN_PAGE_SIZE = 1 << 23  # FFCV's default page; larger only when one raw image needs more
MAX_PAGE_SIZE = 1 << 31  # FFCV's pages must stay below 4 GiB, and ours are powers of two
# The largest max_resolution whose page holds two raw images (page_size below).
MAX_RESOLUTION = math.isqrt(MAX_PAGE_SIZE // (2 * 3))
# Rewrites after FFCV's encoder rejected images: each leaves those out; more than this many
# means the encoder fails on images in general, and the conversion stops.
MAX_REWRITES = 8
MIB = 2**20  # the checksum phase counts progress in MiB


def default_workers() -> int:
    """The cores this process may use, at most 8 (writing is rarely faster beyond)."""
    return min(8, usable_cores())


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
        if not 8 <= self.max_resolution <= MAX_RESOLUTION:
            problems.append(
                f"max resolution must be in [8, {MAX_RESOLUTION}] (FFCV's largest page holds "
                f"two raw images of that size), got {self.max_resolution}"
            )
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
    """The (image, label) pairs FFCV's writer asks for by index, images within max_side."""

    def __init__(self, source: ImageSource, fit: Callable[[np.ndarray], np.ndarray]) -> None:
        self.source = source
        self.fit = fit

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.fit(self.source.load(index)), int(self.source.labels[index])


def _require_ffcv() -> None:
    """MissingExtraError with the install command unless FFCV's writer imports here."""
    from visim.pipeline.torch_threads import kept_torch_threads

    try:
        with kept_torch_threads():  # importing ffcv sets them to 1
            import ffcv.writer  # noqa: F401 - importing is the check (it needs system libraries)
    except ImportError as error:
        raise MissingExtraError(
            f"visim convert needs FFCV ({error}); run: {extras.FFCV.install_command}"
        ) from None


def _write_beton(
    source: ImageSource,
    indices: list[int],
    path: Path,
    settings: WriteSettings,
    progress: ProgressCallback,
    stop_check: StopCheck,
) -> None:
    from ffcv.fields import IntField, RGBImageField

    from visim.pipeline.convert.beton_writer import MonitoredDatasetWriter, fit_within

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
        stop_check=stop_check,
    )
    fitted = _LabelledImages(source, lambda image: fit_within(image, settings.max_resolution))
    writer.from_indexed_dataset(fitted, indices=indices)


def _write_encodable(
    source: ImageSource,
    readable: list[int],
    skipped: list[dict[str, str]],
    path: Path,
    settings: WriteSettings,
    strict: bool,
    progress: ProgressCallback,
    stop_check: StopCheck,
) -> list[int]:
    """Write `readable` to `path`, leaving out (and adding to `skipped`) what FFCV's encoder
    rejects; the indices written. StrictModeError if any is rejected and `strict`; WorkerDied
    naming the image when a writer fails for another reason."""
    from visim.pipeline.convert.beton_writer import SamplesRejected, WriterFailed

    for _ in range(MAX_REWRITES + 1):
        try:
            _write_beton(source, readable, path, settings, progress, stop_check)
            return readable
        except SamplesRejected as rejected:
            skipped.extend(
                {"path": source.describe(index), "reason": reason}
                for index, reason in sorted(rejected.rejected.items())
            )
            if strict:
                raise StrictModeError(skipped) from None
            readable = [index for index in readable if index not in rejected.rejected]
            if not readable:
                raise SourceError(f"no image of {source.location} could be encoded") from None
        except WriterFailed as failed:
            if failed.index is None:
                raise
            raise WorkerDied(f"writing {source.describe(failed.index)}: {failed.reason}") from None
    raise WorkerDied(
        f"FFCV's encoder rejected images in {MAX_REWRITES + 1} attempts in a row "
        f"({len(skipped)} skipped so far, the last {skipped[-1]['path']}: "
        f"{skipped[-1]['reason']})"
    )


def convert_source(
    source: ImageSource,
    out: str | Path,
    settings: WriteSettings | None = None,
    *,
    force: bool = False,
    strict: bool = False,
    progress: ProgressCallback = no_progress,
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
    with stop_points() as stop_check:
        manifest = _convert(source, out, manifest_out, settings, strict, progress, stop_check)
    return ConvertResult(out, manifest, out.stat().st_size, time.perf_counter() - started)


def _convert(
    source: ImageSource,
    out: Path,
    manifest_out: Path,
    settings: WriteSettings,
    strict: bool,
    progress: ProgressCallback,
    stop_check: StopCheck,
) -> Manifest:
    """convert_source's work once its arguments are checked: the manifest written."""
    readable, skipped = find_readable(source, settings.workers, progress, stop_check)
    if strict and skipped:
        raise StrictModeError(skipped)
    if not readable:
        raise SourceError(f"no readable images in {source.location}")
    out.parent.mkdir(parents=True, exist_ok=True)
    for final in (out, manifest_out):
        remove_stale_temporaries(final)
    beton_tmp, manifest_tmp = temporary_path(out), temporary_path(manifest_out)
    try:
        readable = _write_encodable(
            source, readable, skipped, beton_tmp, settings, strict, progress, stop_check
        )
        # Read back from disk: what the checksums vouch for is the file as it will be read.
        checksums = compute_checksums(
            beton_tmp, lambda done, total: progress("checksums", done // MIB, total // MIB)
        )
        manifest = _manifest(source, readable, skipped, settings, checksums)
        manifest_tmp.write_text(manifest_json(manifest))
        stop_check()  # the last moment at which the output can still be left unwritten
        # The .beton last: where it exists, its manifest is beside it.
        publish([(manifest_tmp, manifest_out), (beton_tmp, out)])
    finally:
        for leftover in (beton_tmp, manifest_tmp):
            leftover.unlink(missing_ok=True)
    return manifest


def _manifest(
    source: ImageSource,
    readable: list[int],
    skipped: list[dict[str, str]],
    settings: WriteSettings,
    checksums: Checksums,
) -> Manifest:
    labels = source.labels[readable]
    counts = np.bincount(labels, minlength=len(source.classes))
    return Manifest(
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
        checksums=checksums.to_json(),
    )
