"""Frozen backbone features and kappa of every image of a source, as `visim eval` reads them.

source_features is the one way eval (through its cache) and embed compute them, so that both
give an image the same features and the same kappa.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from visim.evaluation.run_loading import EvaluatedRun
from visim.models.kappa_head import maximum_likelihood_kappa
from visim.models.siamese import SiameseModel
from visim.pipeline.backends.eval_loader import EvalBatch, clean_batches
from visim.pipeline.sources.base import ImageSource

# no_grad rather than inference_mode: the features go on to fit the linear probe with autograd,
# which refuses inference tensors.

# progress(images done, images in the source), after each batch.
Progress = Callable[[int, int], None]


def source_features(
    run: EvaluatedRun,
    model: SiameseModel,
    source: ImageSource,
    *,
    batch_size: int,
    device: torch.device,
    workers: int,
    with_kappa: bool,
    with_projections: bool = False,
    progress: Progress | None = None,
    degradation: str | None = None,
    indices: Sequence[int] | None = None,
) -> dict[str, torch.Tensor]:
    """extract_features of every readable image of `source` (of `indices`, default all),
    un-augmented (resized and centre-cropped per the run's recipe), or with `degradation`
    (augment/degradations.py, seeded by the run's seed) after that."""
    batches = clean_batches(
        source, run.config.recipe, batch_size, device, workers,
        degradation, run.config.runtime.seed, indices,
    )  # fmt: skip
    if progress is not None:
        batches = _reporting(batches, len(source), progress)
    return extract_features(model, batches, with_kappa, with_projections)


def _reporting(batches: Iterable[EvalBatch], total: int, progress: Progress) -> Iterator[EvalBatch]:
    for batch in batches:
        yield batch
        # Batches come in source order: the last index says how far the source has been read.
        progress(int(batch.indices[-1]) + 1, total)


@torch.no_grad()
def extract_features(
    model: SiameseModel,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    with_kappa: bool,
    with_projections: bool = False,
) -> dict[str, torch.Tensor]:
    """Run (images, labels, indices) batches through the model in eval mode.

    Returns CPU tensors: "features" float32 [N, feature_dim], "labels" int64 [N], "indices"
    int64 [N] (positions in the source, for finding images again), with_kappa: "kappa"
    float32 [N] from the model's posterior on the same inputs, and with_projections:
    "projections" float32 [N, proj_dim], the projector's output.
    """
    model.eval()  # BN uses its running statistics: features do not depend on the batch
    columns: dict[str, list[torch.Tensor]] = {"features": [], "labels": [], "indices": []}
    for images, labels, indices in batches:
        for name, values in _forward(model, images, with_kappa, with_projections).items():
            columns.setdefault(name, []).append(values.float().cpu())
        columns["labels"].append(labels.cpu().long())
        columns["indices"].append(indices.cpu().long())
    if not columns["features"]:
        raise ValueError("no images to evaluate: the data source yielded no batches")
    return {name: torch.cat(parts) for name, parts in columns.items()}


def _forward(
    model: SiameseModel, images: torch.Tensor, with_kappa: bool, with_projections: bool
) -> dict[str, torch.Tensor]:
    """One forward pass for all outputs asked for: "features" [B, feature_dim], and "kappa"
    [B], "projections" [B, proj_dim]. The posterior runs the backbone and the projector, whose
    outputs are kept on the way."""
    if not with_kappa:
        features = model.encode(images)
        if with_projections:
            return {"features": features, "projections": model.projector(features)}
        return {"features": features}
    captured: dict[str, torch.Tensor] = {}
    modules = {"features": model.backbone}
    if with_projections:
        modules["projections"] = model.projector
    hooks = [
        module.register_forward_hook(
            lambda module, args, out, name=name: captured.setdefault(name, out)
        )
        for name, module in modules.items()
    ]
    try:
        _, kappa = model.posterior(images)
    finally:
        for hook in hooks:
            hook.remove()
    if kappa is None:
        raise ValueError("kappa asked of a SimSiam model, which has no kappa head")
    return {**captured, "kappa": kappa}


@torch.no_grad()
def view_kappas(
    model: SiameseModel, batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
) -> dict[str, torch.Tensor]:
    """kappa of every augmented view: batches of (views [B, K, 3, H, W], labels, indices).

    Returns CPU tensors "kappa" float32 [N, K] (the head's, per view), "indices" int64 [N], in
    the batches' order, and with K >= 2 "fit" float32 [N]: the kappa that makes the image's
    own views likeliest, each view's posterior direction against every other view's target
    (maximum_likelihood_kappa over the K (K - 1) pairs; docs/method.md section 5).
    """
    model.eval()
    columns: dict[str, list[torch.Tensor]] = {"kappa": [], "fit": [], "indices": []}
    for views, _, batch_indices in batches:
        b, k = views.shape[:2]
        flat = views.flatten(0, 1).contiguous(memory_format=torch.channels_last)  # [B*K, 3, H, W]
        mu, kappa, target = model.posterior_and_target(flat)
        if kappa is None:
            raise ValueError("kappa asked of a SimSiam model, which has no kappa head")
        columns["kappa"].append(kappa.float().cpu().view(b, k))
        if k >= 2:
            dim = mu.shape[-1]
            cosines = mu.view(b, k, dim) @ target.view(b, k, dim).transpose(1, 2)  # [B, K, K]
            # Off the diagonal: view j's direction against view i's target, i != j, as in
            # training; the diagonal pairs a view with itself.
            pairs = cosines[:, ~torch.eye(k, dtype=torch.bool, device=cosines.device)]
            columns["fit"].append(maximum_likelihood_kappa(pairs, dim).float().cpu())
        columns["indices"].append(batch_indices.cpu().long())
    if not columns["kappa"]:
        raise ValueError("no augmented views to evaluate: the data source yielded no batches")
    return {name: torch.cat(parts) for name, parts in columns.items() if parts}
