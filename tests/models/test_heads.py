"""Projector, predictor and kappa head: SimSiam's layer recipe and kappa's range."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visim.models.heads import Predictor, Projector
from visim.models.kappa_head import KappaHead


def layer_signature(module: nn.Module) -> list[tuple]:
    signature = []
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            signature.append(
                ("linear", layer.in_features, layer.out_features, layer.bias is not None)
            )
        elif isinstance(layer, nn.BatchNorm1d):
            signature.append(("bn", layer.num_features, layer.affine))
        elif isinstance(layer, nn.ReLU):
            signature.append(("relu",))
    return signature


def test_projector_has_simsiams_three_layers():
    assert layer_signature(Projector(512)) == [
        ("linear", 512, 2048, False), ("bn", 2048, True), ("relu",),
        ("linear", 2048, 2048, False), ("bn", 2048, True), ("relu",),
        ("linear", 2048, 2048, False), ("bn", 2048, False),
    ]  # fmt: skip


def test_projector_with_two_layers_and_custom_width():
    assert layer_signature(Projector(2048, out_dim=256, layers=2)) == [
        ("linear", 2048, 256, False), ("bn", 256, True), ("relu",),
        ("linear", 256, 256, False), ("bn", 256, False),
    ]  # fmt: skip


def test_projector_rejects_zero_layers():
    with pytest.raises(ValueError, match="layers must be at least 1"):
        Projector(512, layers=0)


def test_predictor_is_a_bottleneck_with_a_biased_output():
    predictor = Predictor()
    assert layer_signature(predictor) == [
        ("linear", 2048, 512, False), ("bn", 512, True), ("relu",), ("linear", 512, 2048, True),
    ]  # fmt: skip
    z = torch.randn(4, 2048)
    p, hidden = predictor.forward_with_hidden(z)
    assert p.shape == (4, 2048) and hidden.shape == (4, 512)
    assert (hidden >= 0).all()  # after the ReLU
    torch.testing.assert_close(predictor(z), p)
    torch.testing.assert_close(predictor.output(hidden), p)


def kappa_head_with_bias(bias: float, **kwargs) -> KappaHead:
    head = KappaHead(16, **kwargs)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.fill_(bias)
    return head


def test_kappa_has_batch_shape_and_is_positive():
    kappa = KappaHead(16)(torch.randn(5, 16))
    assert kappa.shape == (5,)
    assert (kappa > 0).all()


def test_kappa_never_drops_below_the_floor():
    kappa = kappa_head_with_bias(-200.0, floor=0.05)(torch.randn(3, 16))
    torch.testing.assert_close(kappa, torch.full((3,), 0.05))


def test_kappa_is_clamped_at_kappa_max():
    kappa = kappa_head_with_bias(500.0, max_value=100.0)(torch.randn(3, 16))
    torch.testing.assert_close(kappa, torch.full((3,), 100.0))


def test_kappa_is_float32_and_exact_under_bf16_autocast():
    head = kappa_head_with_bias(12345.0)
    features = torch.randn(3, 16).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        kappa = head(features)
    assert kappa.dtype == torch.float32
    # bf16 would round 12345 to 12352.
    torch.testing.assert_close(kappa, torch.full((3,), 12345.0 + 0.01))


def test_kappa_head_rejects_inconsistent_bounds():
    with pytest.raises(ValueError, match="floor must be non-negative"):
        KappaHead(16, floor=-1.0)
    with pytest.raises(ValueError, match="max_value must exceed floor"):
        KappaHead(16, floor=1.0, max_value=0.5)
