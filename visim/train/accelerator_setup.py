"""The Accelerator of one training process, with the precision its device suits."""

from __future__ import annotations

import torch
from accelerate import Accelerator, PartialState

from visim.pipeline.indexed_device import indexed_device
from visim.train.config import ConfigError, TrainConfig
from visim.train.precision import (
    Precision,
    PrecisionError,
    resolve_precision,
    training_device_info,
)
from visim.train.run_dir import RunDir


def make_accelerator(
    config: TrainConfig, cpu: bool, run_dir: RunDir
) -> tuple[Accelerator, Precision]:
    """The process's Accelerator and precision; the device's own settings made (flushing
    denormals on a CPU, cuDNN's algorithm search on CUDA). ConfigError for a precision the
    device cannot run."""
    # Accelerate picks this process's device: its local process index modulo the GPUs the
    # process sees, so a launcher that gives each process one GPU through CUDA_VISIBLE_DEVICES
    # works. The precision must suit that device, not whichever GPU LOCAL_RANK would name, and
    # is fixed when the Accelerator is made: ask the (shared) process state for the device first.
    device = indexed_device(PartialState(cpu=cpu).device)
    try:
        precision = resolve_precision(
            config.runtime.precision, training_device_info(device.type != "cuda", device.index)
        )
    except PrecisionError as error:
        raise ConfigError(str(error)) from None
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=precision.mixed_precision,
        dynamo_backend="inductor" if config.runtime.compile else "no",
        log_with=None if config.runtime.log_with == "none" else [config.runtime.log_with],
        project_dir=run_dir.logs,  # where trackers keep their files
    )
    if device.type == "cpu":
        # Values in float32's subnormal range make CPU matrix products several times slower.
        # VI-SimSiam's first hundred steps on Fashion-MNIST ran at 10-19 images/s without this
        # and 50-57 with it, logging the same losses (separate runs on a shared 2-core EPYC,
        # so a hint rather than a measurement: benchmarks/method/fashion_mnist.md).
        torch.set_flush_denormal(True)
    if device.type == "cuda":
        # Every step has the same shapes (fixed batch and crop size, drop-last loaders), so
        # cuDNN's search for the fastest convolution algorithms pays off after the first step.
        torch.backends.cudnn.benchmark = True
    return accelerator, precision
