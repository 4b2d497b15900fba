"""What the real-data backends read in a training benchmark: the same images for each.

torch and dali read DATA itself (an image folder, IDX, CIFAR, .npz, or a demo set); FFCV
reads a .beton converted from DATA with the pipeline benchmark's settings, kept beside an
image folder (where `visim bench pipeline` reuses it too) or made in the work directory.
"""

from __future__ import annotations

from pathlib import Path

from visim.bench.pipeline.data import bench_write_settings, cached_beton, default_beton_path
from visim.pipeline.backends.registry import get_backend, missing_extra
from visim.pipeline.sources.base import AUTO_SPLIT
from visim.pipeline.sources.demo import TEST_DIVISOR
from visim.pipeline.sources.demo_shapes import DEMO_CLASSES
from visim.pipeline.sources.factory import open_split
from visim.pipeline.sources.image_folder import ImageFolderSource

# The smallest demo set: its test split must hold every class.
MIN_DEMO_IMAGES = len(DEMO_CLASSES) * TEST_DIVISOR


def demo_data(images: int) -> str:
    """The built-in generated set with `images` training images."""
    return f"demo:{images}"


def beton_for(data: str, beton: Path | None, workdir: Path, workers: int) -> Path:
    """A .beton holding DATA: `beton` (made, or remade when it holds something else) or a
    default place. Raises what opening or converting DATA raises."""
    source = open_split(data, AUTO_SPLIT)
    if beton is None:
        if isinstance(source, ImageFolderSource):
            beton = default_beton_path(source)
        else:
            beton = workdir / (data.replace(":", "-").replace("/", "_") + ".beton")
    # Conversion needs at least one writer process, whatever the loaders use.
    cached_beton(source, beton, bench_write_settings(max(1, workers)), lambda *progress: None)
    return beton


def prepare_sources(
    backends: list[str], data: str, beton: Path | None, workdir: Path, workers: int
) -> tuple[dict[str, str], dict[str, str]]:
    """For each real backend, what it reads as DATA, or why it cannot run here."""
    sources, problems = {}, {}
    for backend in backends:
        fix = missing_extra(get_backend(backend))
        if fix is not None:
            problems[backend] = f"not installed; run: {fix}"
        elif get_backend(backend).reads_beton:
            try:
                sources[backend] = str(beton_for(data, beton, workdir, workers))
            except Exception as error:  # the backend is reported as skipped, the others run
                problems[backend] = f"cannot make a .beton of {data}: {error}"
        else:
            sources[backend] = data
    return sources, problems
