"""Configuration, the Accelerate training loop, checkpoints and evaluation."""
