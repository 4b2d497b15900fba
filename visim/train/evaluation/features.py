"""Frozen backbone features and kappa of every image a batch iterator yields."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

# no_grad rather than inference_mode: the features go on to fit the linear probe with autograd,
# which refuses inference tensors.


@torch.no_grad()
def extract_features(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    with_kappa: bool,
) -> dict[str, torch.Tensor]:
    """Run (images, labels, indices) batches through the model in eval mode.

    Returns CPU tensors: "features" float32 [N, feature_dim], "labels" int64 [N], "indices"
    int64 [N] (positions in the source, for finding images again), and with_kappa: "kappa"
    float32 [N] from the model's posterior on the same inputs.
    """
    model.eval()  # BN uses its running statistics: features do not depend on the batch
    columns: dict[str, list[torch.Tensor]] = {"features": [], "labels": [], "indices": []}
    if with_kappa:
        columns["kappa"] = []
    for images, labels, indices in batches:
        if with_kappa:
            features, kappa = _features_and_kappa(model, images)
            columns["kappa"].append(kappa.float().cpu())
        else:
            features = model.encode(images)
        columns["features"].append(features.float().cpu())
        columns["labels"].append(labels.cpu().long())
        columns["indices"].append(indices.cpu().long())
    if not columns["features"]:
        raise ValueError("no images to evaluate: the data source yielded no batches")
    return {name: torch.cat(parts) for name, parts in columns.items()}


def _features_and_kappa(
    model: nn.Module, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass for both: the posterior runs the backbone, whose output is kept."""
    captured: list[torch.Tensor] = []
    hook = model.backbone.register_forward_hook(lambda module, args, out: captured.append(out))
    try:
        _, kappa = model.posterior(images)
    finally:
        hook.remove()
    return captured[0], kappa  # [B, feature_dim], [B]


@torch.no_grad()
def view_kappas(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """kappa of every augmented view: batches of (views [B, K, 3, H, W], labels, indices).

    Returns CPU tensors "kappa" float32 [N, K] and "indices" int64 [N], in the batches' order.
    """
    model.eval()
    kappas, indices = [], []
    for views, _, batch_indices in batches:
        b, k = views.shape[:2]
        flat = views.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # [B*K, 3, H, W]
        kappas.append(model.posterior(flat)[1].float().cpu().view(b, k))
        indices.append(batch_indices.cpu().long())
    if not kappas:
        raise ValueError("no augmented views to evaluate: the data source yielded no batches")
    return {"kappa": torch.cat(kappas), "indices": torch.cat(indices)}
