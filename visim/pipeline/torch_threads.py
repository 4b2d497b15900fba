"""torch's intra-op thread count as the process had it before FFCV changed it.

Importing ffcv sets torch's intra-op thread count to 1 for the whole process
(ffcv.pipeline.compiler calls torch.set_num_threads(1) at import), and building or iterating
an FFCV Loader sets it to the loader's worker count. Every later torch op, the training step
included, then runs on that many threads: on a 2-core machine, at half speed. The count is
read when visim.pipeline is first imported, before any visim module imports ffcv, and the
places that import ffcv or run its loader put it back.
"""

from __future__ import annotations

import torch

_BEFORE_FFCV = torch.get_num_threads()


def torch_threads_before_ffcv() -> int:
    return _BEFORE_FFCV


def restore_torch_threads() -> None:
    """Give torch back the thread count it had before ffcv was imported."""
    if torch.get_num_threads() != _BEFORE_FFCV:
        torch.set_num_threads(_BEFORE_FFCV)
