"""Run numerically delicate code in float32 or float64, whatever autocast says outside.

Power Spherical log-densities sit near 5000 at d = 2048 with a per-sample spread of a few
units: bf16 (8 bits of mantissa) cannot represent that difference (docs/method.md section 3).
"""

from __future__ import annotations

import contextlib

import torch


def autocast_disabled(device: torch.device) -> contextlib.AbstractContextManager:
    """A context in which autocast is off for `device` (a no-op where autocast does not exist)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


def at_least_float32(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cast every tensor to one floating dtype: float64 if any is float64, else float32."""
    wide = any(t.dtype == torch.float64 for t in tensors)
    dtype = torch.float64 if wide else torch.float32
    return tuple(t.to(dtype) for t in tensors)
