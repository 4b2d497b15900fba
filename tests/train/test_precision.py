import pytest
import torch

from visim.train import environment, precision
from visim.train.precision import DeviceInfo, PrecisionError, resolve_precision

CPU = DeviceInfo("cpu", "CPU", bf16=True)
A100 = DeviceInfo("cuda", "NVIDIA A100", bf16=True)
V100 = DeviceInfo("cuda", "Tesla V100", bf16=False)


@pytest.mark.parametrize(
    ("device", "name", "scaler"),
    [(CPU, "fp32", False), (A100, "bf16", False), (V100, "fp16", True)],
)
def test_auto_picks_by_device(device, name, scaler):
    chosen = resolve_precision("auto", device)
    assert chosen.name == name
    assert chosen.uses_grad_scaler is scaler


def test_auto_maps_to_the_values_accelerate_takes():
    assert resolve_precision("auto", CPU).mixed_precision == "no"
    assert resolve_precision("auto", A100).mixed_precision == "bf16"
    assert resolve_precision("auto", V100).mixed_precision == "fp16"


@pytest.mark.parametrize("device", [CPU, A100, V100])
def test_fp32_is_allowed_everywhere(device):
    assert resolve_precision("fp32", device).mixed_precision == "no"


def test_explicit_bf16_on_the_cpu_is_allowed_though_slow():
    assert resolve_precision("bf16", CPU).name == "bf16"


def test_fp16_on_the_cpu_is_refused_because_accelerate_ignores_it():
    with pytest.raises(PrecisionError, match="fp16 does nothing on the CPU"):
        resolve_precision("fp16", CPU)


def test_bf16_on_a_gpu_without_bf16_is_refused():
    with pytest.raises(PrecisionError, match="Tesla V100 has no bf16"):
        resolve_precision("bf16", V100)


def test_unknown_precision_names_the_option():
    with pytest.raises(PrecisionError, match="--precision must be one of"):
        resolve_precision("fp8", A100)


def test_device_info_reads_the_cuda_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    fake = [{"index": 0, "name": "Tesla V100", "bf16": False}]
    # training_device_info imports it when called (the CLI reads this module without torch).
    monkeypatch.setattr(environment, "cuda_devices", lambda: fake)
    device = precision.training_device_info(cpu=False)
    assert device == V100
    assert resolve_precision("auto", device).name == "fp16"
    # --cpu-processes trains on the CPU even where a GPU exists.
    assert precision.training_device_info(cpu=True).type == "cpu"
