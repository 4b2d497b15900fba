import math

import pytest
import torch

from visim.train.schedule import apply_scheduled_lr, build_scheduler, lr_factor, peak_lr


def test_peak_lr_scales_with_the_batch():
    assert peak_lr(0.05, 512) == pytest.approx(0.1)
    assert peak_lr(0.03, 256) == pytest.approx(0.03)


def test_warmup_rises_linearly_then_cosine_falls_to_zero():
    f = lambda step: lr_factor(step, total_steps=100, warmup_steps=10)  # noqa: E731
    assert f(0) == pytest.approx(0.1)  # the first step already learns
    assert f(4) == pytest.approx(0.5)
    assert f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5)  # half-way through the cosine
    assert f(100) == pytest.approx(0.0)
    assert f(10 + 90 // 3) == pytest.approx(0.5 * (1 + math.cos(math.pi / 3)))


def test_without_warmup_the_cosine_starts_at_once():
    assert lr_factor(0, total_steps=8, warmup_steps=0) == 1.0
    assert lr_factor(4, total_steps=8, warmup_steps=0) == pytest.approx(0.5)


def _optimizer() -> torch.optim.SGD:
    encoder, predictor = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    return torch.optim.SGD(
        [
            {"params": [encoder], "name": "encoder", "fixed_lr": False},
            {"params": [predictor], "name": "predictor", "fixed_lr": True},
        ],
        lr=0.2,
    )


def test_scheduler_steps_groups_but_keeps_fixed_ones():
    optimizer = _optimizer()
    scheduler = build_scheduler(optimizer, total_steps=20, warmup_steps=4)
    seen = []
    for _ in range(20):
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    for step in (0, 3, 7, 19):
        factor = lr_factor(step, total_steps=20, warmup_steps=4)
        assert seen[step][0] == pytest.approx(0.2 * factor)
        assert seen[step][1] == pytest.approx(0.2)


def test_a_longer_schedule_applies_after_loading_a_shorter_ones_state():
    short = _optimizer()
    scheduler = build_scheduler(short, total_steps=10, warmup_steps=0)
    for _ in range(5):
        short.step()
        scheduler.step()
    longer_optimizer = _optimizer()
    longer_optimizer.load_state_dict(short.state_dict())
    longer = build_scheduler(longer_optimizer, total_steps=20, warmup_steps=0)
    longer.load_state_dict(scheduler.state_dict())
    apply_scheduled_lr(longer)
    expected = 0.2 * lr_factor(5, total_steps=20, warmup_steps=0)
    assert longer_optimizer.param_groups[0]["lr"] == pytest.approx(expected)
