"""Steady-state windows and the ratios derived from measured rates."""

import math

import pytest

from tests.bench.fake_runs import metric_records
from visim.bench.ratios import data_stall, geometric_mean, per_doubling
from visim.bench.train.windows import NoSteadyWindow, Window, steady_state, windows_from_records


def test_windows_recover_time_and_images_from_the_loops_records():
    windows = windows_from_records(metric_records([10.0, 40.0], window_steps=5), batch_size=8)
    assert [(w.first_step, w.last_step) for w in windows] == [(1, 5), (6, 10)]
    assert [w.images for w in windows] == [40, 40]
    assert [w.seconds for w in windows] == pytest.approx([4.0, 1.0])


def test_steady_state_leaves_out_the_warm_up_window():
    windows = windows_from_records(metric_records([10.0, 40.0, 40.0], 5), batch_size=8)
    steady = steady_state(windows, steps_per_epoch=100)
    assert steady.images_per_s == pytest.approx(40.0)
    assert steady.seconds_per_step == pytest.approx(0.2)
    assert steady.window_images_per_s == pytest.approx((40.0, 40.0))
    # The warm-up took 4 s for what takes 1 s at steady speed.
    assert steady.warmup_extra_seconds == pytest.approx(3.0)


def test_windows_holding_an_epoch_restart_are_left_out():
    # 6 steps per epoch, windows of 4: window 2 (steps 5-8) holds step 7, the next epoch's first.
    windows = windows_from_records(metric_records([10.0, 5.0, 40.0], 4), batch_size=1)
    assert [w.holds_epoch_start(6) for w in windows] == [False, True, False]
    # Window 3 (steps 9-12) holds no first step: step 13 starts the third epoch.
    assert steady_state(windows, steps_per_epoch=6).images_per_s == pytest.approx(40.0)


def test_data_wait_is_weighted_by_each_windows_time():
    slow = Window(1, 1, seconds=3.0, images=1, data_wait=0.5)
    fast = Window(2, 2, seconds=1.0, images=1, data_wait=0.1)
    quick = Window(3, 3, seconds=1.0, images=1, data_wait=0.0)
    steady = steady_state([fast, slow, quick], steps_per_epoch=100)
    assert steady.data_wait == pytest.approx((3.0 * 0.5 + 1.0 * 0.0) / 4.0)


def test_no_steady_window_says_what_to_change():
    windows = windows_from_records(metric_records([10.0, 20.0], 4), batch_size=1)
    with pytest.raises(NoSteadyWindow, match="epoch restart.*more data or shorter windows"):
        steady_state(windows, steps_per_epoch=5)
    with pytest.raises(NoSteadyWindow, match="no window after the warm-up"):
        steady_state(windows[:1], steps_per_epoch=100)


def test_data_stall_is_the_share_of_synthetic_speed_lost():
    assert data_stall(750.0, 1000.0) == pytest.approx(0.25)
    assert data_stall(1000.0, 1000.0) == 0.0
    with pytest.raises(ValueError, match="synthetic throughput must be positive"):
        data_stall(10.0, 0.0)


def test_growth_per_doubling_fits_a_power_law():
    assert per_doubling(100, 1.0, 400, 4.0) == pytest.approx(2.0)  # proportional
    assert per_doubling(100, 5.0, 800, 5.0) == pytest.approx(1.0)  # flat
    assert per_doubling(32, 8.0, 64, 4.0) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        per_doubling(1, 1.0, 1, 2.0)


def test_geometric_mean():
    assert geometric_mean([0.5, 2.0]) == pytest.approx(1.0)
    assert geometric_mean([3.0]) == pytest.approx(3.0)
    assert math.isclose(geometric_mean([1.0, 4.0, 16.0]), 4.0)
