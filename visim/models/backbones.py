"""torchvision ResNets without their classifier, as SimSiam's backbone (docs/method.md section 1).

The module stays a torchvision ResNet, so its state_dict loads into torchvision.models.resnet*
(only fc.* missing): an exported backbone needs nothing from visim to be used elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torchvision import models

from visim.models.model_config import BACKBONE_ARCHS

_RESNETS: dict[str, Callable[..., models.ResNet]] = {
    arch: getattr(models, arch) for arch in BACKBONE_ARCHS
}


def build_backbone(
    arch: str, cifar_stem: bool = False, channels_last: bool = True
) -> models.ResNet:
    """A randomly initialised ResNet mapping images [B, 3, H, W] to features [B, feature_dim].

    The width of the features is in the attribute `feature_dim` (512 for resnet18/34, 2048 for
    resnet50). The last BN of every residual block starts at zero, so each block starts as the
    identity (SimSiam's setting). `cifar_stem` swaps the 7x7 stride-2 conv and the max-pool for
    a 3x3 stride-1 conv and nothing, keeping the names conv1 / maxpool so the keys still match.
    """
    if arch not in _RESNETS:
        raise ValueError(f"arch must be one of {BACKBONE_ARCHS}, got {arch!r}")
    # weights=None: random initialisation, never a download.
    backbone = _RESNETS[arch](weights=None, zero_init_residual=True)
    if cifar_stem:
        backbone.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        # The same initialisation torchvision gives its own convolutions.
        nn.init.kaiming_normal_(backbone.conv1.weight, mode="fan_out", nonlinearity="relu")
        backbone.maxpool = nn.Identity()
    backbone.feature_dim = backbone.fc.in_features
    # An Identity holds no parameters, so the state_dict has no fc.* keys at all.
    backbone.fc = nn.Identity()
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    return backbone
