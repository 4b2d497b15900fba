"""Everything `visim embed` can be told, with defaults and one-line errors naming the option."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visim.pipeline.sources.base import AUTO_SPLIT
from visim.train.evaluation.eval_error import check_options


@dataclass(frozen=True)
class EmbedSettings:
    data: str  # the images to embed: any source visim reads
    out: Path  # the Parquet file to write
    # Of --data; auto: the train split where the source has splits, else the whole source.
    split: str = AUTO_SPLIT
    checkpoint: Path | None = None  # None: the run's newest weights
    projections: bool = False  # also the projector's output, in a column of its own
    batch_size: int = 256
    workers: int | None = None  # data-loading processes; None: the run's --workers
    device: str = "auto"  # auto: the first CUDA device if there is one, else the CPU
    summary_images: int = 5  # lowest- and highest-kappa images named at the end
    force: bool = False  # overwrite --out

    def __post_init__(self) -> None:
        checks = [
            (self.batch_size >= 1, "--batch-size", "at least 1"),
            (self.workers is None or self.workers >= 0, "--workers", "at least 0"),
            (self.summary_images >= 0, "--summary-images", "at least 0"),
        ]
        check_options(self, checks)
