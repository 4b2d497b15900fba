"""The pipeline benchmark's data: an image folder, described, and its .beton made once.

Every contender reads the same images: the folder itself, or (for FFCV) a .beton converted
from it. The .beton is kept and reused while its manifest says it holds this folder written
with these settings, so later runs skip the conversion.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from visim.bench.pipeline.contenders import Contender, missing_requirement
from visim.pipeline.convert.manifest import read_manifest
from visim.pipeline.convert.to_beton import ProgressCallback, WriteSettings, convert_source
from visim.pipeline.sources.base import ImageSource, SourceError
from visim.pipeline.sources.image_folder import ImageFolderSource, has_subfolders

# Largest side kept in the .beton. Above typical photo sizes, so FFCV decodes as many pixels
# as the backends that read the files (FFCV's own examples shrink to 256-512).
BENCH_MAX_RESOLUTION = 512


@dataclass(frozen=True)
class BenchData:
    """Where each kind of contender reads the images, or why it cannot."""

    folder: Path
    num_images: int
    beton: Path | None = None
    beton_reused: bool | None = None  # None: no .beton was needed, or it could not be made
    beton_problem: str | None = None  # why there is no .beton, when a contender needed one

    def source_for(self, contender: Contender) -> Path:
        """Its spec's source; a contender that reads nothing gets the folder, unread."""
        if contender.reads != "beton":
            return self.folder
        if self.beton is None:
            raise RuntimeError(self.beton_problem or "no .beton was made")
        return self.beton


def open_image_folder(src: str | Path) -> ImageFolderSource:
    """The image folder at `src` (src/<class>/*.jpg); SourceError saying what is wrong."""
    path = Path(src).expanduser()
    if not path.is_dir() or not has_subfolders(path):
        what = "does not exist" if not path.exists() else "is not a folder of class folders"
        raise SourceError(
            f"SRC {src}: {what}; the benchmark reads an image folder SRC/<class>/*.jpg"
        )
    return ImageFolderSource(path.resolve())


def describe_images(source: ImageFolderSource) -> dict:
    """Count, classes, file sizes and pixel sizes of the folder, for the record."""
    kilobytes = [path.stat().st_size / 1024 for path in source.paths]
    widths, heights = [], []
    for path in source.paths:
        with Image.open(path) as image:  # reads the header only
            widths.append(image.width)
            heights.append(image.height)
    return {
        "folder": source.location,
        "images": len(source.paths),
        "classes": len(source.classes),
        "formats": sorted({path.suffix.lower() for path in source.paths}),
        "file_kb": _spread(kilobytes),
        "width_px": _spread(widths),
        "height_px": _spread(heights),
    }


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "min": round(min(values), 1),
        "median": round(statistics.median(values), 1),
        "max": round(max(values), 1),
    }


def bench_write_settings(workers: int) -> WriteSettings:
    return WriteSettings(max_resolution=BENCH_MAX_RESOLUTION, workers=workers)


def default_beton_path(source: ImageFolderSource) -> Path:
    """Beside the folder: data/images/ -> data/images.beton."""
    folder = Path(source.location)
    return folder.with_name(folder.name + ".beton")


def beton_is_current(source: ImageSource, beton: Path, settings: WriteSettings) -> bool:
    """Whether `beton` holds this folder's images written with `settings`."""
    if not beton.is_file():
        return False
    try:
        manifest = read_manifest(beton)
    except SourceError:
        return False
    wanted = {k: v for k, v in asdict(settings).items() if k != "workers"}
    return (
        manifest.source == source.location
        and manifest.settings == wanted
        and manifest.num_images + len(manifest.skipped) == len(source)
    )


def cached_beton(
    source: ImageSource,
    beton: Path,
    settings: WriteSettings,
    progress: ProgressCallback,
) -> bool:
    """Make sure `beton` holds the folder; True when an existing one was reused."""
    if beton_is_current(source, beton, settings):
        return True
    convert_source(source, beton, settings, force=True, progress=progress)
    return False


def prepare_data(
    source: ImageFolderSource,
    contenders: list[Contender],
    beton: Path,
    settings: WriteSettings,
    progress: ProgressCallback,
) -> BenchData:
    """The folder, plus its .beton when a usable contender reads one."""
    folder = Path(source.location)
    if not any(c.reads == "beton" and missing_requirement(c) is None for c in contenders):
        return BenchData(folder, len(source))
    try:
        reused = cached_beton(source, beton, settings, progress)
    except Exception as error:  # the .beton's contenders report it; the others still run
        problem = f"cannot convert {folder} to {beton}: {error}"
        return BenchData(folder, len(source), beton_problem=problem)
    return BenchData(folder, len(source), beton, beton_reused=reused)
