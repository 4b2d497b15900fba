"""Sources whose images already sit in one uint8 array: IDX, CIFAR and .npz all end here."""

from __future__ import annotations

import numpy as np

from visim.pipeline.sources.base import ImageSource, SourceError


def numbered_classes(*label_arrays: np.ndarray) -> list[str]:
    """'0'..'K-1' for formats that carry no class names; K covers every split's labels."""
    highest = max(int(labels.max()) for labels in label_arrays if labels.size)
    return [str(k) for k in range(highest + 1)]


class ArraySource(ImageSource):
    """Images uint8 [N, H, W] (gray), [N, H, W, 1] or [N, H, W, 3]; labels int [N]."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        classes: list[str],
        *,
        format: str,
        location: str,
        split: str,
        item_prefix: str,
    ) -> None:
        self.format = format
        self.location = location
        self.split = split
        self._item_prefix = item_prefix  # the file that holds the images, for describe()
        if images.dtype != np.uint8:
            raise SourceError(f"{item_prefix}: images must be uint8, got {images.dtype}")
        if images.ndim == 4 and images.shape[3] == 1:
            images = images[..., 0]
        if not (images.ndim == 3 or (images.ndim == 4 and images.shape[3] == 3)):
            raise SourceError(
                f"{item_prefix}: images must have shape (N, H, W) or (N, H, W, 1|3), "
                f"got {images.shape}"
            )
        labels = np.asarray(labels)
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise SourceError(f"{item_prefix}: labels must be a 1-D integer array")
        if len(labels) != len(images):
            raise SourceError(f"{item_prefix}: {len(images)} images but {len(labels)} labels")
        if len(images) == 0:
            raise SourceError(f"source is empty: {item_prefix} has no images")
        if labels.min() < 0 or labels.max() >= len(classes):
            raise SourceError(
                f"{item_prefix}: labels must lie in [0, {len(classes) - 1}] "
                f"({len(classes)} classes), got [{labels.min()}, {labels.max()}]"
            )
        self.images = images
        self.labels = labels.astype(np.int64)
        self.classes = list(classes)

    def load(self, index: int) -> np.ndarray:
        image = self.images[index]
        if image.ndim == 2:
            # Gray -> RGB by repetition: every backend then sees 3 equal channels.
            return np.repeat(image[:, :, None], 3, axis=2)
        return np.ascontiguousarray(image)

    def describe(self, index: int) -> str:
        return f"{self._item_prefix}[{index}]"
