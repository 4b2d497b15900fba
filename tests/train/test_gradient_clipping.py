"""--clip-grad-norm bounds every optimizer step, whatever the loss's gradient scale."""

import pytest
import torch
from conftest import tiny_config, train_here
from safetensors.torch import load_file

from visim.models.siamese import build_model
from visim.train.schedule import peak_lr

CLIP = 1e-3


def _parameters_after(tmp_path, steps: int, clip: float | None) -> dict[str, torch.Tensor]:
    # Plain SGD (no momentum, no weight decay): a step moves the weights by lr times the
    # gradient, so the clip bounds the move by lr * CLIP.
    config = tiny_config(
        model={"method": "vi-simsiam", "vi_loss": "nll"},
        optim={"momentum": 0.0, "weight_decay": 0.0, "clip_grad_norm": clip},
        runtime={"max_steps": steps},
    )
    out = tmp_path / f"clip-{clip}-steps-{steps}"
    assert train_here(config, out) == 0
    names = {name for name, _ in build_model(config.model).named_parameters()}
    return {name: t for name, t in load_file(out / "model.safetensors").items() if name in names}


def _step_size(tmp_path, clip: float | None) -> tuple[float, float]:
    """The L2 norm of the second step's move over every parameter, and that step's peak LR."""
    before = _parameters_after(tmp_path, 1, clip)
    after = _parameters_after(tmp_path, 2, clip)
    moved = torch.stack([torch.linalg.vector_norm(after[n] - before[n]) for n in before])
    optim = tiny_config().optim
    return torch.linalg.vector_norm(moved).item(), peak_lr(optim.lr, optim.batch_size)


@pytest.mark.usefixtures("fresh_accelerate")
def test_clipping_bounds_the_step_and_leaves_unclipped_runs_alone(tmp_path):
    clipped, lr = _step_size(tmp_path, CLIP)
    unclipped, _ = _step_size(tmp_path, None)
    assert 0 < clipped <= lr * CLIP * 1.001
    # The NLL's kappa-scaled gradient is far beyond the clip: without it the step is larger.
    assert unclipped > 100 * lr * CLIP
