"""One percentile definition with its method named, and one latency summary."""

from __future__ import annotations

import random

import numpy as np
import pytest

from workbench.stats import latency_summary, percentile, rounded_percentile


def test_linear_is_numpys_default_method():
    rng = random.Random(7)
    for _ in range(300):
        values = [rng.uniform(0, 3000) for _ in range(rng.randint(1, 40))]
        q = rng.choice([0.0, 2.5, 50.0, 90.0, 95.0, 99.0, 100.0, rng.uniform(0, 100)])
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_nearest_rank_is_always_an_observed_value_and_numpys_inverted_cdf():
    rng = random.Random(11)
    for _ in range(300):
        values = [round(rng.uniform(0, 3000), 1) for _ in range(rng.randint(1, 40))]
        q = rng.choice([0.0, 50.0, 95.0, 99.0, 99.9, 100.0, rng.uniform(0, 100)])
        value = percentile(values, q, method="nearest_rank")
        assert value in values
        assert value == float(np.percentile(values, q, method="inverted_cdf"))


def test_the_two_methods_differ_where_they_should():
    values = [100.0, 200.0, 300.0, 400.0]
    assert percentile(values, 50) == 250.0  # between the two middle samples
    assert percentile(values, 50, method="nearest_rank") == 200.0  # rank ⌈0.5·4⌉ = 2


def test_arrays_and_lists_give_the_same_figure():
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(np.array(values), 95) == percentile(values, 95)


def test_no_values_an_unknown_method_or_a_q_out_of_range_is_an_error():
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 50, method="nearest")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_rounded_percentile_is_none_for_no_values():
    assert rounded_percentile([], 95) is None
    assert rounded_percentile([1.04, 2.0], 0) == 1.0


def test_latency_summary_keys_and_rounding():
    totals = [812.34, 640.0, 1210.56, 700.0]
    assert latency_summary(totals) == {"turns": 4, "p50": 756.2, "p95": 1150.8, "max": 1210.6}
    assert latency_summary(totals, suffix="_ms", count="n", mean=True) == {
        "n": 4,
        "p50_ms": 756.2,
        "p95_ms": 1150.8,
        "mean_ms": 840.7,
        "max_ms": 1210.6,
    }
    assert latency_summary([]) == {"turns": 0}
