"""Inputs, the augmentation recipe, and the two-view loaders that execute it."""
