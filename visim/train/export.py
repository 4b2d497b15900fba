"""The weights a finished run leaves behind, as safetensors files.

backbone.safetensors has exactly the keys of a torchvision ResNet without its classifier:
    net = torchvision.models.resnet50(); net.fc = torch.nn.Identity()
    net.load_state_dict(safetensors.torch.load_file("backbone.safetensors"))  # strict
(with --cifar-stem, first replace conv1 by a 3x3 stride-1 conv and maxpool by Identity).
"""

from __future__ import annotations

from dataclasses import asdict
from functools import partial

import torch
from safetensors.torch import save_file

from visim.core.atomic_write import write_atomically
from visim.models.siamese import SiameseModel
from visim.train.run_dir import RunDir


def _plain_tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    # safetensors wants contiguous tensors that share no storage; channels_last conv weights
    # are not contiguous in its sense, so they are copied to the standard layout.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}


def export_weights(model: SiameseModel, run_dir: RunDir) -> None:
    """Write model.safetensors (every weight) and backbone.safetensors (the ResNet alone)."""
    metadata = {k: str(v) for k, v in asdict(model.config).items()}
    for path, module in ((run_dir.model, model), (run_dir.backbone, model.backbone)):
        tensors = _plain_tensors(module)
        write_atomically(path, partial(save_file, tensors, metadata=metadata))
