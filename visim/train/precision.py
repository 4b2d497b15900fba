"""Which numeric precision a run trains in, decided from the request and the device.

`auto` picks bf16 on CUDA devices with bf16 units (compute capability 8.0+), fp16 with a
gradient scaler on older CUDA devices, and fp32 on the CPU: accelerate's bf16 really runs on
the CPU but about ten times slower there, and its fp16 silently does nothing on the CPU. The
loss is computed in float32 whatever is chosen here (visim.models.losses).
"""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass(frozen=True)
class DeviceInfo:
    """What precision selection needs to know about the training device."""

    type: str  # "cuda" or "cpu"
    name: str
    bf16: bool  # bf16 arithmetic units present


@dataclass(frozen=True)
class Precision:
    name: str  # "bf16" | "fp16" | "fp32": what the run trains in
    mixed_precision: str  # the value accelerate.Accelerator(mixed_precision=...) takes
    uses_grad_scaler: bool


_PRECISION = {
    "bf16": Precision("bf16", "bf16", uses_grad_scaler=False),
    "fp16": Precision("fp16", "fp16", uses_grad_scaler=True),
    "fp32": Precision("fp32", "no", uses_grad_scaler=False),
}


class PrecisionError(ValueError):
    """The requested precision cannot run on this device."""


def resolve_precision(requested: str, device: DeviceInfo) -> Precision:
    """The precision to train in; PrecisionError when the request cannot work on `device`."""
    if requested not in PRECISIONS:
        raise PrecisionError(
            f"--precision must be one of {', '.join(PRECISIONS)}, got {requested!r}"
        )
    if requested == "auto":
        if device.type == "cpu":
            return _PRECISION["fp32"]
        return _PRECISION["bf16" if device.bf16 else "fp16"]
    if requested == "fp16" and device.type == "cpu":
        raise PrecisionError(
            "--precision fp16 does nothing on the CPU (accelerate ignores it); use fp32 or auto"
        )
    if requested == "bf16" and not device.bf16:
        raise PrecisionError(
            f"--precision bf16: {device.name} has no bf16 support; use fp16 or auto"
        )
    return _PRECISION[requested]


def training_device_info(cpu: bool, index: int = 0) -> DeviceInfo:
    """The device this process will train on: the CPU, or CUDA device `index` as this process
    numbers them (after CUDA_VISIBLE_DEVICES)."""
    # Imported here: the command line reads PRECISIONS for --help without loading torch.
    import torch

    from visim.train.environment import cuda_devices

    if cpu or not torch.cuda.is_available():
        # bf16 runs on any CPU, only slowly; it is never chosen automatically.
        return DeviceInfo("cpu", "CPU", bf16=True)
    device = cuda_devices()[index]
    return DeviceInfo("cuda", device["name"], bf16=device["bf16"])
