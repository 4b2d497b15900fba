"""--clip-grad-norm bounds every optimizer step, whatever the loss's gradient scale, and the
metrics say how often it did."""

import pytest
import torch
from conftest import tiny_config, train_here
from safetensors.torch import load_file

from visim.models.siamese import build_model
from visim.train.metrics import MetricsWindow, combine_processes, read_metrics
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


@pytest.mark.usefixtures("fresh_accelerate")
@pytest.mark.parametrize(("clip", "share"), [(CLIP, 1.0), (1e9, 0.0), (None, None)])
def test_every_metrics_line_gives_the_share_of_clipped_steps(tmp_path, clip, share):
    # The NLL's gradient norm is far above CLIP and far below 1e9 at every step.
    config = tiny_config(
        model={"method": "vi-simsiam", "vi_loss": "nll"},
        optim={"clip_grad_norm": clip},
        runtime={"max_steps": 4, "log_every": 2},
    )
    assert train_here(config, tmp_path / "run") == 0
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r.get("clipped_share", "absent") for r in records] == [
        "absent" if share is None else share
    ] * 2


def test_the_clipped_share_counts_the_windows_clipped_steps():
    config = tiny_config(model={"method": "vi-simsiam"})
    model = build_model(config.model)
    output = model(torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32))
    window = MetricsWindow()
    for clipped in (True, False, True, False, False):
        window.add_step(torch.tensor(-1.0), 0.0, torch.tensor(clipped))
    summary = window.summary(model, output, encoder_grad_norm=1.0)
    record = combine_processes([summary], proj_dim=64, global_batch_size=4, collapse_ratio=0.2)
    assert record["clipped_share"] == pytest.approx(2 / 5)
    window.reset()  # a new window counts from zero
    window.add_step(torch.tensor(-1.0), 0.0, torch.tensor(False))
    summary = window.summary(model, output, encoder_grad_norm=1.0)
    record = combine_processes([summary], proj_dim=64, global_batch_size=4, collapse_ratio=0.2)
    assert record["clipped_share"] == 0.0
