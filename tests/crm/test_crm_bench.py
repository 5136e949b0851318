"""The CRM bench as a specification of crash safety: with faults, and with the delivery process
killed (SIGKILL) mid-way and restarted, every record arrives exactly once."""

from __future__ import annotations

import pytest

from workbench.crm.bench import run_crm_bench

pytestmark = [pytest.mark.network, pytest.mark.slow]

KEYS = {
    "calls",
    "expected",
    "found",
    "lost",
    "duplicates",
    "dead_letters",
    "throughput",
    "delay_p95_s",
}


def test_transient_faults_lose_and_duplicate_nothing():
    result = run_crm_bench(calls=10, faults="transient=0.3,seed=5")
    assert KEYS <= set(result)
    assert result["expected"] == 30  # VoiceCall + Case or Lead + Task per call
    assert (result["found"], result["lost"], result["duplicates"]) == (30, 0, 0)
    assert result["dead_letters"] == {}
    assert result["events"]["lost"] == 0


def test_a_worker_killed_mid_delivery_and_restarted_ends_with_every_record_exactly_once():
    result = run_crm_bench(calls=30, faults="transient=0.2,latency=2ms", kill_worker=True)
    assert result["killed_after_delivered"] > 0  # it really died mid-way
    assert result["outbox"]["delivered"] == 150
    assert (result["found"], result["lost"], result["duplicates"]) == (90, 0, 0)
    assert result["dead_letters"] == {}
    assert result["events"]["lost"] == 0  # events are at-least-once: repeats allowed, losses not
