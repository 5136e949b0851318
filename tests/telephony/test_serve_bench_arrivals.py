"""`workbench bench serve`: when the callers start, and which calls are judged."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError
from workbench.telephony.bench import caller_start_offsets, placed_after_ramp, run_serve_bench


def test_in_step_callers_all_start_at_once():
    assert caller_start_offsets(4, 0.0) == [0.0, 0.0, 0.0, 0.0]


def test_staggered_callers_start_evenly_over_the_ramp():
    offsets = caller_start_offsets(4, 20.0)

    assert offsets == [0.0, 5.0, 10.0, 15.0]
    assert max(offsets) < 20.0  # the last caller is on the line before the ramp ends


def test_calls_placed_during_the_ramp_are_not_judged():
    results = [{"placed_s": 0.0}, {"placed_s": 12.5}, {"placed_s": 20.0}, {"placed_s": 31.0}]

    assert placed_after_ramp(results, 20.0) == [{"placed_s": 20.0}, {"placed_s": 31.0}]
    assert placed_after_ramp(results, 0.0) == results  # in step: every call counts


def test_a_negative_ramp_is_refused_before_any_server_starts():
    with pytest.raises(ConfigError, match="--stagger"):
        run_serve_bench(calls=2, duration_s=1.0, stagger_s=-1.0)
