"""The one batch type every two-view loader yields."""

from __future__ import annotations

from typing import NamedTuple

import torch


class Batch(NamedTuple):
    """Two augmented views of the same images, plus their labels.

    view1, view2: float [B, 3, H, W], normalised, channels_last, on the training device.
    label: int64 [B] on the same device (-1 where the source has no labels).
    """

    view1: torch.Tensor
    view2: torch.Tensor
    label: torch.Tensor
