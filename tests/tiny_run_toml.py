"""A VI-SimSiam run small enough for a CLI test to train in seconds, as a --config TOML."""

from __future__ import annotations


def tiny_run_toml(max_steps: int, log_every: int | None = None) -> str:
    """The TOML of a few-step run on 40 demo images; log_every None keeps the default."""
    log_line = "" if log_every is None else f"log_every = {log_every}\n"
    return f"""
[data]
source = "demo:40"
recipe = "cifar"
size = 16
workers = 0

[model]
method = "vi-simsiam"
arch = "resnet18"
cifar_stem = true
proj_dim = 32
pred_hidden_dim = 8

[optim]
epochs = 1
batch_size = 8

[runtime]
max_steps = {max_steps}
{log_line}checkpoint_every = 0
quiet = true
"""
