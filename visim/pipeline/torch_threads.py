"""Keeping torch's intra-op thread count across FFCV, which changes it for the whole process.

Importing ffcv sets torch's intra-op thread count to 1 (ffcv.pipeline.compiler calls
torch.set_num_threads(1) at import), and building or iterating an FFCV Loader sets it to the
loader's worker count. Every later torch op, the training step included, would then run on
that many threads: on a 2-core machine, at half speed. visim first imports ffcv inside
kept_torch_threads() (backends.registry.missing_extra, which make_loader calls before it
imports a loader module, and convert's check), builds Loaders inside it, and the ffcv loader
gives every batch back the count its caller had when the epoch began.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def set_torch_threads(threads: int) -> None:
    """torch.set_num_threads, skipped when the count is already right."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def kept_torch_threads() -> Iterator[int]:
    """Run the block, then give torch back the thread count it had before (yielded)."""
    threads = torch.get_num_threads()
    try:
        yield threads
    finally:
        set_torch_threads(threads)
