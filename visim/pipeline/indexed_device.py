"""One spelling per device: CUDA devices always carry their index.

torch.device("cuda") and torch.device("cuda:0") compare unequal although tensors on either
live on cuda:0, and torch.Generator keeps the spelling it was given. Accelerate names a
single-process run's device "cuda"; tensors always report "cuda:N". Every device a loader or
the training loop compares or hands on goes through indexed_device first.
"""

from __future__ import annotations

import torch


def indexed_device(device: torch.device | str) -> torch.device:
    """`device` with its index filled in: the current CUDA device for a bare "cuda" (device 0
    where CUDA is unavailable, so that the error comes from whoever uses it)."""
    device = torch.device(device)
    if device.type != "cuda" or device.index is not None:
        return device
    index = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return torch.device("cuda", index)
