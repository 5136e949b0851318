"""Load shapes, driven by a fake clock (the shapes module never imports Locust)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from workbench.paths import REPO_ROOT

_SPEC = importlib.util.spec_from_file_location(
    "loadtests_shapes", REPO_ROOT / "loadtests/shapes.py"
)
shapes = importlib.util.module_from_spec(_SPEC)
sys.modules["loadtests_shapes"] = shapes
_SPEC.loader.exec_module(shapes)

SAMPLE_PROFILE = REPO_ROOT / "loadtests/profiles/call-arrivals-sample.csv"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(shape, clock: FakeClock, at: float):
    clock.now = shape.start_time + at
    return shape.tick()


def test_arrival_rate_shape_opens_the_cap_as_lines_and_ramps_the_rate():
    clock = FakeClock()
    shape = shapes.ArrivalRate(
        rate=2.0,
        max_calls=40,
        duration_s=60.0,
        rate_increase=1.0,
        period_s=10.0,
        rate_max=4.0,
        clock=clock,
    )
    assert run(shape, clock, 0.0) == (40, 40.0)
    assert run(shape, clock, 59.9) == (40, 40.0)
    assert run(shape, clock, 60.0) is None
    assert [shape.rate_at(t) for t in (0, 9.9, 10, 25, 60)] == [2.0, 2.0, 3.0, 4.0, 4.0]


def test_arrival_gate_spaces_calls_at_the_rate_and_counts_arrivals_held_by_the_cap():
    gate = shapes.ArrivalGate()
    starts = [gate.reserve(10.0, rate_per_s=4.0) for _ in range(4)]
    assert starts == [10.0, 10.25, 10.5, 10.75]
    # Every line was busy for 3 s: the next call starts now, counted as held back.
    assert gate.reserve(14.0, rate_per_s=4.0) == 14.0
    assert gate.late == 1
    assert gate.reserve(14.0, rate_per_s=4.0) == 14.25


def test_ramp_then_hold_then_stop():
    clock = FakeClock()
    shape = shapes.RampHold(peak=50, ramp_s=10.0, hold_s=20.0, clock=clock)
    assert run(shape, clock, 0.0) == (1, 5.0)
    assert run(shape, clock, 5.0) == (25, 5.0)
    assert run(shape, clock, 15.0) == (50, 5.0)
    assert run(shape, clock, 30.0) is None


def test_spike_jumps_at_once_and_recovers():
    clock = FakeClock()
    shape = shapes.Spike(base=10, peak=60, warm_s=30, spike_s=10, recover_s=20, clock=clock)
    assert run(shape, clock, 5.0) == (10, 1.0)
    assert run(shape, clock, 31.0) == (60, 50.0)
    assert run(shape, clock, 45.0) == (10, 50.0)
    assert run(shape, clock, 60.0) is None


def test_soak_holds_for_its_duration():
    clock = FakeClock()
    shape = shapes.Soak(users=30, duration_s=3600.0, ramp_s=60.0, clock=clock)
    assert run(shape, clock, 1800.0) == (30, 1.0)
    assert run(shape, clock, 3600.0) is None


def test_replay_follows_the_recorded_day_at_a_fraction_of_its_peak():
    profile = shapes.load_arrival_profile(SAMPLE_PROFILE)
    clock = FakeClock()
    shape = shapes.Replay(profile, fraction=0.15, duration_s=780.0, mean_call_s=60.0, clock=clock)
    assert shape.recorded_peak_cpm == 62.0
    # 07:00 → 20:30 compressed into 780 s (one second per minute of the day... ×1.04)
    peak_t = (10.5 * 60 - 7 * 60) / (20.5 * 60 - 7 * 60) * 780.0
    assert shape.calls_per_minute_at(peak_t) == pytest.approx(62.0 * 0.15)
    # Little's law: 9.3 calls a minute × 60 s calls → 10 concurrent lines.
    assert run(shape, clock, peak_t) == (10, 1.0)
    assert run(shape, clock, 0.0)[0] < 10
    assert run(shape, clock, 780.0) is None


def test_profile_files_need_two_rows(tmp_path: Path):
    bad = tmp_path / "one.csv"
    bad.write_text("time,calls_per_minute\n09:00,10\n")
    with pytest.raises(ValueError, match="at least two rows"):
        shapes.load_arrival_profile(bad)
