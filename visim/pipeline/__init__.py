"""Inputs, the augmentation recipe, and the two-view loaders that execute it."""

# First, before any module here imports ffcv: it records torch's thread count (see there).
from visim.pipeline import torch_threads  # noqa: F401
