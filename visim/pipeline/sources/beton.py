"""A .beton written by `visim convert`, read image by image like any other source.

The ffcv backend streams a .beton through FFCV's Loader; everything else (evaluation, the
torch and dali backends, convert itself) reads it here: labels from the file, class names
from the manifest beside it (NAME.json), each image decoded from the bytes FFCV stored (a
JPEG, or raw RGB pixels). A .beton holds one split, the one it was converted from.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from visim.pipeline.convert.beton_checksums import checksums_from_json
from visim.pipeline.convert.manifest import IMAGE_FIELD, LABEL_FIELD, read_manifest
from visim.pipeline.sources.base import ImageSource, SourceError, check_split
from visim.pipeline.sources.image_folder import decode_image

STORED_JPEG = 0  # RGBImageField's mode of a JPEG; 1 is raw uint8 pixels


def _read_tables(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(field names, per-sample metadata, allocation table) from FFCV's own reader."""
    from visim.pipeline.backends.registry import MissingExtraError, require_backend
    from visim.pipeline.torch_threads import kept_torch_threads

    try:
        require_backend("ffcv")
    except MissingExtraError as error:
        raise SourceError(f"{path}: reading a .beton needs FFCV: {error}") from None
    with kept_torch_threads():  # importing ffcv sets them to 1
        from ffcv.reader import Reader

    try:
        reader = Reader(str(path))
    except (OSError, ValueError, AssertionError, IndexError, KeyError) as error:
        # AssertionError: another file format version; the rest: a file that is not a .beton
        raise SourceError(f"{path}: not a readable .beton ({error})") from None
    return reader.field_names, reader.metadata, reader.alloc_table


class BetonSource(ImageSource):
    format = "beton"

    def __init__(self, path: Path, split: str = "train") -> None:
        manifest = read_manifest(path)
        check_split(split, str(path), (manifest.split,))
        recorded = checksums_from_json(manifest.checksums)
        size = path.stat().st_size
        if recorded is not None and size != recorded.size:
            raise SourceError(
                f"{path}: {size:,} bytes, but `visim convert` wrote {recorded.size:,} (its "
                f"manifest says): the file was {'cut short' if size < recorded.size else 'changed'}"
                "; convert it again"
            )
        names, metadata, allocations = _read_tables(path)
        if {IMAGE_FIELD, LABEL_FIELD} - set(names) or len(metadata) != manifest.num_images:
            raise SourceError(
                f"{path}: does not match its manifest {path.with_suffix('.json').name} "
                f"(fields {names}, {len(metadata)} images; the manifest says "
                f"{manifest.num_images}); convert it again"
            )
        self.path = path
        self.location = str(path)
        self.split = split
        self.classes = list(manifest.classes)
        fields = {name: f"f{i}" for i, name in enumerate(names)}  # numpy's names for them
        images = metadata[fields[IMAGE_FIELD]]
        self.labels = metadata[fields[LABEL_FIELD]].astype(np.int64)
        self._modes = images["mode"]
        self._shapes = np.stack([images["height"], images["width"]], axis=1)  # [N, 2]
        self._starts = images["data_ptr"]
        # Each image's bytes were allocated once: their size is in the allocation table.
        order = np.argsort(allocations["ptr"])
        starts = allocations["ptr"][order]
        found = np.searchsorted(starts, self._starts).clip(0, max(0, len(order) - 1))
        if not len(order) or not np.array_equal(starts[found], self._starts):
            raise SourceError(f"{path}: its allocation table misses some images; convert it again")
        self._sizes = allocations["size"][order][found]
        # Checked here for files without recorded checksums: FFCV reads the tables only.
        end = int((self._starts + self._sizes).max())
        if end > size:
            raise SourceError(
                f"{path}: cut short: {size:,} bytes, its images need {end:,}; convert it again"
            )
        if self.labels.min() < 0 or self.labels.max() >= len(self.classes):
            raise SourceError(f"{path}: labels outside the manifest's {len(self.classes)} classes")
        self._file: np.memmap | None = None  # opened by each process that reads

    def __getstate__(self) -> dict:
        # Worker processes open the file themselves rather than copy a mapping of it.
        return {**self.__dict__, "_file": None}

    def _stored(self, index: int) -> np.ndarray:
        if self._file is None:
            self._file = np.memmap(self.path, dtype=np.uint8, mode="r")
        start = int(self._starts[index])
        return self._file[start : start + int(self._sizes[index])]

    def load(self, index: int) -> np.ndarray:
        stored = self._stored(index)
        height, width = (int(side) for side in self._shapes[index])
        if self._modes[index] != STORED_JPEG:
            return np.array(stored[: height * width * 3]).reshape(height, width, 3)
        return decode_image(io.BytesIO(stored.tobytes()), self.describe(index))

    def describe(self, index: int) -> str:
        return f"{self.path}[{index}]"

    def images_in(self, ranges: list[tuple[int, int]]) -> np.ndarray:
        """Indices of the images with bytes in any [start, end) of `ranges`, ascending."""
        ends = self._starts + self._sizes
        hit = np.zeros(len(self._starts), dtype=bool)
        for start, end in ranges:
            hit |= (self._starts < end) & (ends > start)
        return np.flatnonzero(hit)
