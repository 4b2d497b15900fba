"""The SimSiam / VI-SimSiam model: config, outputs, posterior, loss dispatch, parameter groups."""

from __future__ import annotations

import pytest
import torch

from visim.models import ModelConfig, SiameseOutput, build_model, simsiam_loss, vi_simsiam_loss

# Narrow heads keep the tests fast; the layer recipe itself is tested in test_heads.py.
SMALL_HEADS = {"proj_dim": 64, "pred_hidden_dim": 16}


def views(batch: int = 2, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 3, size, size, generator=g), torch.randn(
        batch, 3, size, size, generator=g
    )


def test_default_heads_give_simsiam_shapes():
    torch.manual_seed(0)
    model = build_model(ModelConfig(method="simsiam", arch="resnet18", cifar_stem=True))
    out = model(*views())
    assert isinstance(out, SiameseOutput)
    assert out.p1.shape == out.p2.shape == out.z1.shape == out.z2.shape == (2, 2048)
    assert out.features1.shape == out.features2.shape == (2, 512)
    assert out.kappa1 is None and out.kappa2 is None


@pytest.mark.parametrize(
    ("arch", "width"), [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)]
)
def test_feature_width_follows_the_arch(arch, width):
    model = build_model(ModelConfig(method="vi-simsiam", arch=arch, cifar_stem=True, **SMALL_HEADS))
    out = model(*views())
    assert model.feature_dim == width
    assert out.features1.shape == (2, width) and out.z1.shape == (2, 64)
    assert out.kappa1.shape == out.kappa2.shape == (2,)


@pytest.mark.parametrize("source", ["predictor-hidden", "projector", "backbone"])
def test_every_kappa_source_gives_positive_batch_shaped_kappa_with_gradients(source):
    torch.manual_seed(1)
    model = build_model(ModelConfig(method="vi-simsiam", kappa_source=source, **SMALL_HEADS))
    expected_width = {"predictor-hidden": 16, "projector": 64, "backbone": 512}[source]
    assert model.kappa_head.linear.in_features == expected_width
    out = model(*views())
    assert out.kappa1.shape == (2,) and (out.kappa1 > 0).all() and (out.kappa2 > 0).all()
    model.loss(out).backward()
    assert model.kappa_head.linear.weight.grad.abs().sum() > 0
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_kappa_never_exceeds_kappa_max():
    model = build_model(ModelConfig(method="vi-simsiam", kappa_max=50.0, **SMALL_HEADS))
    with torch.no_grad():
        model.kappa_head.linear.bias.fill_(1e4)
    out = model(*views())
    assert (out.kappa1 <= 50.0).all() and (out.kappa2 <= 50.0).all()
    assert (out.kappa1 == 50.0).all()


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
def test_loss_dispatches_to_the_methods_loss(method):
    torch.manual_seed(2)
    model = build_model(ModelConfig(method=method, **SMALL_HEADS))
    out = model(*views())
    if method == "simsiam":
        expected = simsiam_loss(out.p1, out.p2, out.z1, out.z2)
    else:
        expected = vi_simsiam_loss(out.p1, out.p2, out.z1, out.z2, out.kappa1, out.kappa2)
    torch.testing.assert_close(model.loss(out), expected)


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
def test_posterior_gives_unit_directions_and_kappa(method):
    model = build_model(ModelConfig(method=method, **SMALL_HEADS)).eval()
    x, _ = views(batch=3)
    with torch.no_grad():
        mu, kappa = model.posterior(x)
        p = model(x, x).p1
    assert mu.shape == (3, 64) and mu.dtype == torch.float32
    torch.testing.assert_close(mu.norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(mu, torch.nn.functional.normalize(p, dim=-1))
    if method == "simsiam":
        assert kappa is None
    else:
        assert kappa.shape == (3,) and (kappa > 0).all()


def test_encode_returns_the_backbone_features():
    model = build_model(ModelConfig(**SMALL_HEADS)).eval()
    x1, x2 = views()
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x1), model(x1, x2).features1)
        torch.testing.assert_close(model.encode(x1), model.backbone(x1))


def test_inputs_are_converted_to_channels_last():
    model = build_model(ModelConfig(**SMALL_HEADS))
    layouts = []
    model.backbone.conv1.register_forward_pre_hook(
        lambda m, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    x1, x2 = views()
    assert not x1.is_contiguous(memory_format=torch.channels_last)
    model(x1, x2)
    assert layouts == [True, True]


@pytest.mark.parametrize("source", ["predictor-hidden", "projector", "backbone"])
def test_parameter_groups_split_predictor_and_kappa_head_from_encoder(source):
    model = build_model(ModelConfig(method="vi-simsiam", kappa_source=source, **SMALL_HEADS))
    groups = model.parameter_groups()
    assert set(groups) == {"encoder", "predictor"}
    ids = {name: {id(p) for p in params} for name, params in groups.items()}
    assert not ids["encoder"] & ids["predictor"]
    assert ids["encoder"] | ids["predictor"] == {id(p) for p in model.parameters()}
    assert {id(p) for p in model.kappa_head.parameters()} <= ids["predictor"]
    assert {id(p) for p in model.predictor.parameters()} <= ids["predictor"]


def test_projector_depth_defaults_to_simsiams_choice():
    assert ModelConfig().num_projector_layers == 3
    assert ModelConfig(cifar_stem=True).num_projector_layers == 2
    assert ModelConfig(cifar_stem=True, projector_layers=3).num_projector_layers == 3
    model = build_model(ModelConfig(cifar_stem=True, **SMALL_HEADS))
    assert sum(isinstance(m, torch.nn.Linear) for m in model.projector) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "byol"),
        ("arch", "vgg16"),
        ("kappa_source", "z"),
        ("kappa_floor", -1.0),
        ("kappa_max", 0.0),
        ("projector_layers", 0),
        ("proj_dim", 0),
    ],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        ModelConfig(**{field: value})


def test_non_image_input_is_rejected():
    model = build_model(ModelConfig(**SMALL_HEADS))
    with pytest.raises(ValueError, match=r"x must be a batch of images"):
        model.encode(torch.randn(2, 3, 32))


def test_bf16_autocast_keeps_kappa_and_loss_in_float32():
    model = build_model(ModelConfig(method="vi-simsiam", cifar_stem=True, **SMALL_HEADS))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(*views(size=16))
        loss = model.loss(out)
    assert out.p1.dtype == torch.bfloat16  # the network itself did run in bf16
    assert out.kappa1.dtype == torch.float32 and loss.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(model.backbone.conv1.weight.grad).all()
