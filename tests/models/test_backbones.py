"""The backbone is a torchvision ResNet minus fc, channels_last, zero-initialised residuals."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from visim.models import build_backbone

ARCHS = ["resnet18", "resnet34", "resnet50"]


def torchvision_twin(arch: str, cifar_stem: bool) -> torchvision.models.ResNet:
    """The plain torchvision model, with the same stem surgery a CIFAR user would do."""
    model = getattr(torchvision.models, arch)(weights=None)
    if cifar_stem:
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    return model


@pytest.mark.parametrize("cifar_stem", [False, True])
@pytest.mark.parametrize("arch", ARCHS)
def test_state_dict_loads_into_torchvision_with_only_fc_missing(arch, cifar_stem):
    torch.manual_seed(0)
    backbone = build_backbone(arch, cifar_stem=cifar_stem)
    twin = torchvision_twin(arch, cifar_stem)
    result = twin.load_state_dict(backbone.state_dict(), strict=False)
    assert sorted(result.missing_keys) == ["fc.bias", "fc.weight"]
    assert result.unexpected_keys == []
    # Loaded into the right places: without its classifier the twin computes the same features.
    twin.fc = nn.Identity()
    x = torch.randn(2, 3, 32, 32)
    backbone.eval(), twin.eval()
    with torch.no_grad():
        torch.testing.assert_close(backbone(x), twin(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("arch", "width"), [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)]
)
def test_feature_dim_is_the_output_width(arch, width):
    backbone = build_backbone(arch, cifar_stem=True)
    assert backbone.feature_dim == width
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, width)


@pytest.mark.parametrize(("arch", "last_bn"), [("resnet18", "bn2"), ("resnet50", "bn3")])
def test_last_bn_of_every_residual_block_starts_at_zero(arch, last_bn):
    backbone = build_backbone(arch)
    blocks = [block for layer in (backbone.layer1, backbone.layer4) for block in layer]
    assert all(getattr(block, last_bn).weight.abs().sum() == 0 for block in blocks)
    assert backbone.bn1.weight.abs().sum() > 0  # the stem's BN is left at its usual 1


def test_cifar_stem_keeps_full_resolution():
    backbone = build_backbone("resnet18", cifar_stem=True)
    assert backbone.conv1.kernel_size == (3, 3) and backbone.conv1.stride == (1, 1)
    assert isinstance(backbone.maxpool, nn.Identity)
    seen = {}
    backbone.layer1.register_forward_hook(lambda m, i, out: seen.update(layer1=out.shape))
    backbone(torch.randn(2, 3, 32, 32))
    assert seen["layer1"][-2:] == (32, 32)


def test_weights_and_activations_are_channels_last():
    backbone = build_backbone("resnet18")
    conv_weights = [p for p in backbone.parameters() if p.dim() == 4]
    assert conv_weights
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in conv_weights)
    layouts = []
    for layer in (backbone.layer1, backbone.layer2, backbone.layer3, backbone.layer4):
        layer.register_forward_hook(
            lambda m, i, out: layouts.append(out.is_contiguous(memory_format=torch.channels_last))
        )
    x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    features = backbone(x)
    assert layouts == [True] * 4
    assert features.shape == (2, 512)


def test_channels_last_can_be_turned_off():
    backbone = build_backbone("resnet18", channels_last=False)
    assert not backbone.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_unknown_arch_is_rejected():
    with pytest.raises(ValueError, match="arch must be one of"):
        build_backbone("resnet101")
