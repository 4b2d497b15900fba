"""torch.compile sees the model's forward as one graph: no break splits it (a break would cost
a return to Python and an unfused boundary inside every step)."""

import pytest
import torch
import torch._dynamo

from visim.models.model_config import ModelConfig
from visim.models.siamese import build_model


@pytest.mark.parametrize("method", ["simsiam", "vi-simsiam"])
@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_the_forward_compiles_without_graph_breaks(method, autocast):
    config = ModelConfig(
        method=method, arch="resnet18", proj_dim=32, pred_hidden_dim=8, kappa_support="bank"
    )
    model = build_model(config)  # in training mode: VI-SimSiam's forward fills its bank
    views = [
        torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last) for _ in range(2)
    ]
    torch._dynamo.reset()
    # The kappa head and the losses' float32 islands ask autocast about the device: those
    # questions must be answered while tracing, not break the graph.
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        explanation = torch._dynamo.explain(model)(views[0], views[1])
    assert explanation.graph_break_count == 0, [b.reason for b in explanation.break_reasons]
    assert explanation.graph_count == 1
