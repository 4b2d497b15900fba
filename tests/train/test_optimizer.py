import pytest

from visim.models.model_config import ModelConfig
from visim.models.siamese import build_model
from visim.train.config import OptimConfig
from visim.train.optimizer import build_optimizer

MODEL = build_model(ModelConfig(method="vi-simsiam", proj_dim=32, pred_hidden_dim=8))


def _groups(**optim) -> dict[str, dict]:
    optimizer = build_optimizer(MODEL, OptimConfig(batch_size=512, lr=0.05, **optim))
    return {group["name"]: group for group in optimizer.param_groups}


def test_every_parameter_is_decayed_by_default_as_in_simsiam():
    groups = _groups(weight_decay=1e-4)
    assert set(groups) == {"encoder", "predictor"}
    assert all(group["weight_decay"] == 1e-4 for group in groups.values())
    assert all(group["lr"] == pytest.approx(0.1) for group in groups.values())  # 0.05 * 512/256
    counted = sum(len(group["params"]) for group in groups.values())
    assert counted == len(list(MODEL.parameters()))


def test_predictor_and_kappa_head_get_the_fixed_lr():
    groups = _groups(fix_pred_lr=True)
    assert groups["predictor"]["fixed_lr"] and not groups["encoder"]["fixed_lr"]
    head = {id(p) for p in [*MODEL.predictor.parameters(), *MODEL.kappa_head.parameters()]}
    assert {id(p) for p in groups["predictor"]["params"]} == head
    assert not _groups(fix_pred_lr=False)["predictor"]["fixed_lr"]


def test_norm_and_bias_can_be_exempt_from_decay():
    groups = _groups(weight_decay=5e-4, decay_norm_and_bias=False)
    assert groups["encoder-no-decay"]["weight_decay"] == 0.0
    assert all(p.dim() == 1 for p in groups["encoder-no-decay"]["params"])
    assert all(p.dim() > 1 for p in groups["encoder"]["params"])
    assert groups["encoder"]["weight_decay"] == 5e-4
