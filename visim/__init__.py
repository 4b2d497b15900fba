"""visim: SimSiam and VI-SimSiam pre-training with per-image uncertainty."""

__version__ = "0.1.0"
