import math

import pytest
import torch

from visim.train.nonfinite_guard import NO_STEP, NonfiniteGuard
from visim.train.optimizer import create_momentum_buffers


def model_and_optimizer(seed: int = 0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4, fused=True
    )
    create_momentum_buffers(optimizer)
    return model, optimizer


def snapshot(model, optimizer) -> list[torch.Tensor]:
    tensors = [p.detach().clone() for p in model.parameters()]
    return tensors + [optimizer.state[p]["momentum_buffer"].clone() for p in model.parameters()]


def train(model, optimizer, guard, inputs, poison=(), poison_grad=(), clip=None):
    """One step per input; NaN loss on the steps in `poison`, an inf gradient in poison_grad;
    with `clip`, the gradients are clipped and the guard judges the norm clipping returned,
    as the training loop does."""
    for step, x in enumerate(inputs, start=1):
        loss = model(x).pow(2).mean()
        if step in poison:
            loss = loss * math.nan
        loss.backward()
        if step in poison_grad:
            next(model.parameters()).grad[0, 0] = math.inf
        norm = None if clip is None else torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        guard.check(loss, model.parameters(), step=step, gradient_norm=norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)


def inputs(n: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(5)
    return [torch.randn(6, 4, generator=generator) for _ in range(n)]


def guard_for(optimizer, limit=3, **options) -> NonfiniteGuard:
    options = {"scaler_skips": False, "all_reduce_sum": None, **options}
    return NonfiniteGuard(optimizer, torch.device("cpu"), limit=limit, **options)


def test_skipped_steps_change_no_parameter_or_momentum_and_are_counted():
    model, optimizer = model_and_optimizer()
    guard = guard_for(optimizer)
    xs = inputs(5)
    train(model, optimizer, guard, xs[:2])
    before = snapshot(model, optimizer)
    train(model, optimizer, guard, xs[2:4], poison={1}, poison_grad={2})
    for a, b in zip(before, snapshot(model, optimizer), strict=True):
        assert torch.equal(a, b)
    assert guard.read().total == 2
    train(model, optimizer, guard, xs[4:])
    assert not torch.equal(before[0], next(model.parameters()))


def test_with_clipping_an_inf_gradient_still_skips_the_step():
    # The guard is handed the norm clipping returned (infinite here) and reads no gradient
    # itself: that norm alone must make it skip the step.
    model, optimizer = model_and_optimizer()
    guard = guard_for(optimizer)
    xs = inputs(3)
    train(model, optimizer, guard, xs[:1], clip=0.1)
    before = snapshot(model, optimizer)
    train(model, optimizer, guard, xs[1:2], poison_grad={1}, clip=0.1)
    for a, b in zip(before, snapshot(model, optimizer), strict=True):
        assert torch.equal(a, b)
    assert guard.read().total == 1
    train(model, optimizer, guard, xs[2:], clip=0.1)
    assert not torch.equal(before[0], next(model.parameters()))


def test_skipping_the_very_first_step_leaves_training_as_if_it_never_happened():
    xs = inputs(4)
    model, optimizer = model_and_optimizer()
    train(model, optimizer, guard_for(optimizer), xs, poison={1})
    twin, twin_optimizer = model_and_optimizer()
    # BatchNorm's running statistics see every forward pass, skipped or not.
    twin(xs[0]).detach()
    train(twin, twin_optimizer, guard_for(twin_optimizer), xs[1:])
    for a, b in zip(snapshot(model, optimizer), snapshot(twin, twin_optimizer), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_the_limit_step_is_the_first_that_completes_a_streak():
    model, optimizer = model_and_optimizer()
    guard = guard_for(optimizer, limit=3)
    train(model, optimizer, guard, inputs(10), poison={2, 3, 5, 6, 7, 8})
    counts = guard.read()
    assert (counts.total, counts.limit_step) == (6, 7)
    guard.restore(total=4)
    assert (guard.read().total, guard.read().limit_step) == (4, NO_STEP)


def test_with_a_gradient_scaler_only_the_loss_counts_and_the_scaler_skips():
    model, optimizer = model_and_optimizer()
    guard = guard_for(optimizer, scaler_skips=True)
    loss = model(inputs(1)[0]).pow(2).mean()
    loss.backward()
    next(model.parameters()).grad[0, 0] = math.inf  # an fp16 overflow the scaler handles
    guard.check(loss, model.parameters(), step=1)
    assert guard.read().total == 0
    assert not hasattr(optimizer, "found_inf")


def test_the_flag_is_summed_over_processes_so_every_process_skips_together():
    model, optimizer = model_and_optimizer()
    sums = []

    def all_reduce_sum(flag: torch.Tensor) -> torch.Tensor:
        sums.append(flag.item())
        return flag + 1.0  # another process found a non-finite value

    guard = guard_for(optimizer, all_reduce_sum=all_reduce_sum)
    before = snapshot(model, optimizer)
    train(model, optimizer, guard, inputs(1))
    assert sums == [0.0]
    assert optimizer.found_inf.item() == pytest.approx(1.0)
    assert all(torch.equal(a, b) for a, b in zip(before, snapshot(model, optimizer), strict=True))
