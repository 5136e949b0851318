"""The caller's network leg: its statistics follow its settings, and a seed fixes everything."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.network import (
    PRESETS,
    GilbertElliott,
    NetworkConditions,
    NetworkLeg,
    Packet,
)
from workbench.errors import ConfigError

FRAMES = 10_000
PAYLOAD = b"\xff" * 160


def send_all(
    conditions: NetworkConditions, seed: int = 1, frames: int = FRAMES
) -> tuple[NetworkLeg, list[Packet | None]]:
    leg = NetworkLeg(conditions, seed=seed)
    return leg, [leg.send(seq, seq * 20.0, PAYLOAD) for seq in range(frames)]


def loss_runs(packets: list[Packet | None]) -> list[int]:
    """Lengths of the runs of consecutive lost packets."""
    runs, current = [], 0
    for packet in packets:
        if packet is None:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    return runs + ([current] if current else [])


def test_clean_leg_delivers_everything_instantly_in_order() -> None:
    leg, packets = send_all(NetworkConditions.clean(), frames=100)
    assert all(p is not None and p.arrival_ms == p.sent_ms for p in packets)
    assert [p.seq for p in packets if p] == list(range(100))
    assert leg.stats.sent == 100 and leg.stats.lost == 0 and leg.stats.reordered == 0


def test_packet_carries_what_was_sent() -> None:
    leg = NetworkLeg(NetworkConditions(delay_ms=30.0), seed=0)
    assert leg.send(7, 140.0, b"abc") == Packet(
        seq=7, sent_ms=140.0, arrival_ms=170.0, payload=b"abc"
    )


def test_random_loss_rate_matches_the_setting() -> None:
    leg, packets = send_all(NetworkConditions(loss=0.05))
    assert leg.stats.lost == sum(p is None for p in packets)
    assert leg.stats.loss_rate == pytest.approx(0.05, abs=0.01)


@pytest.mark.parametrize("distribution", ["normal", "uniform", "pareto"])
def test_mean_delay_is_the_delay_plus_the_mean_jitter(distribution: str) -> None:
    conditions = NetworkConditions(delay_ms=50.0, jitter_ms=30.0, jitter_distribution=distribution)
    leg, packets = send_all(conditions)
    delays = np.array([p.arrival_ms - p.sent_ms for p in packets if p])
    assert leg.stats.mean_delay_ms == pytest.approx(delays.mean())
    assert delays.mean() - 50.0 == pytest.approx(30.0, rel=0.07)


@pytest.mark.parametrize("distribution", ["normal", "uniform", "pareto"])
def test_no_packet_arrives_sooner_than_the_fixed_delay(distribution: str) -> None:
    conditions = NetworkConditions(delay_ms=50.0, jitter_ms=80.0, jitter_distribution=distribution)
    _, packets = send_all(conditions, frames=2000)
    assert min(p.arrival_ms - p.sent_ms for p in packets if p) >= 50.0


def test_pareto_jitter_has_a_heavier_tail_than_normal() -> None:
    def p999_over_mean(distribution: str) -> float:
        conditions = NetworkConditions(jitter_ms=20.0, jitter_distribution=distribution)
        _, packets = send_all(conditions)
        jitter = np.array([p.arrival_ms - p.sent_ms for p in packets if p])
        return float(np.percentile(jitter, 99.9) / jitter.mean())

    assert p999_over_mean("pareto") > 2 * p999_over_mean("normal")


def test_gilbert_elliott_loses_in_longer_bursts_than_random_loss_at_the_same_rate() -> None:
    burst = GilbertElliott.from_loss_rate(0.05, mean_burst_packets=4.0)
    assert burst.loss_rate == pytest.approx(0.05)
    bursty_leg, bursty = send_all(NetworkConditions(burst=burst))
    random_leg, random = send_all(NetworkConditions(loss=0.05))
    assert bursty_leg.stats.loss_rate == pytest.approx(0.05, abs=0.015)
    assert random_leg.stats.loss_rate == pytest.approx(0.05, abs=0.01)
    bursty_runs, random_runs = loss_runs(bursty), loss_runs(random)
    assert np.mean(bursty_runs) == pytest.approx(4.0, rel=0.2)
    assert np.mean(random_runs) < 1.2
    assert max(bursty_runs) > max(random_runs)


def test_gilbert_elliott_with_partial_loss_in_each_state() -> None:
    channel = GilbertElliott(
        p_good_to_bad=0.1, p_bad_to_good=0.3, loss_in_bad=0.5, loss_in_good=0.02
    )
    assert channel.loss_rate == pytest.approx(0.25 * 0.5 + 0.75 * 0.02)
    leg, _ = send_all(NetworkConditions(burst=channel))
    assert leg.stats.loss_rate == pytest.approx(channel.loss_rate, abs=0.02)


def test_explicit_reordering_holds_packets_back_so_later_ones_overtake() -> None:
    conditions = NetworkConditions(delay_ms=40.0, reorder=0.1, reorder_delay_ms=50.0)
    leg, packets = send_all(conditions)
    held = [p for p in packets if p and p.arrival_ms - p.sent_ms == 90.0]
    assert len(held) / FRAMES == pytest.approx(0.1, abs=0.02)
    # A packet held back 50 ms is overtaken by the (at most two) packets sent after it.
    assert len(held) < leg.stats.reordered <= 2 * len(held)
    arrival_order = [p.seq for p in sorted(filter(None, packets), key=lambda p: p.arrival_ms)]
    assert arrival_order != list(range(FRAMES))


def test_jitter_alone_reorders_when_it_exceeds_the_frame_spacing() -> None:
    small, _ = send_all(NetworkConditions(jitter_ms=2.0, jitter_distribution="uniform"))
    large, _ = send_all(NetworkConditions(jitter_ms=60.0))
    assert small.stats.reordered == 0  # jitter < 4 ms can never overtake a 20 ms gap
    assert large.stats.reordered > FRAMES // 10


def test_same_seed_same_packets_different_seed_different_packets() -> None:
    conditions = NetworkConditions.preset("poor")
    _, first = send_all(conditions, seed=42, frames=2000)
    _, again = send_all(conditions, seed=42, frames=2000)
    _, other = send_all(conditions, seed=43, frames=2000)
    assert first == again
    assert first != other
    assert [p is None for p in first] != [p is None for p in other]


def test_conditions_change_mid_call_without_disturbing_the_random_stream() -> None:
    steady = NetworkLeg(NetworkConditions(delay_ms=20.0, jitter_ms=10.0), seed=5)
    changed = NetworkLeg(NetworkConditions(delay_ms=20.0, jitter_ms=10.0), seed=5)
    before = [
        (steady.send(s, s * 20.0, PAYLOAD), changed.send(s, s * 20.0, PAYLOAD)) for s in range(50)
    ]
    assert all(a == b for a, b in before)
    changed.set_conditions(NetworkConditions(delay_ms=220.0, jitter_ms=10.0))
    for seq in range(50, 100):
        a, b = steady.send(seq, seq * 20.0, PAYLOAD), changed.send(seq, seq * 20.0, PAYLOAD)
        assert a is not None and b is not None
        assert b.arrival_ms - a.arrival_ms == pytest.approx(200.0)
    assert changed.conditions.delay_ms == 220.0
    assert changed.stats.sent == 100


def test_leaving_a_burst_mid_call() -> None:
    always_bad = GilbertElliott(p_good_to_bad=1.0, p_bad_to_good=0.0001)
    leg = NetworkLeg(NetworkConditions(burst=always_bad), seed=0)
    assert all(leg.send(s, s * 20.0, PAYLOAD) is None for s in range(20))
    leg.set_conditions(NetworkConditions.clean())
    assert all(leg.send(s, s * 20.0, PAYLOAD) is not None for s in range(20, 40))
    assert leg.stats.lost == 20 and leg.stats.loss_rate == 0.5


def test_presets() -> None:
    assert NetworkConditions.preset("clean") == NetworkConditions.clean()
    poor = NetworkConditions.preset("poor")
    assert poor.jitter_ms == 80.0
    assert poor.expected_loss_rate == pytest.approx(0.05)
    assert {"clean", "wifi", "lte", "poor"} <= set(PRESETS)
    for name in PRESETS:  # every preset actually runs
        leg, _ = send_all(NetworkConditions.preset(name), frames=200)
        assert leg.stats.sent == 200


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown network preset 'dialup' \(choose from clean, wifi"
    ):
        NetworkConditions.preset("dialup")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"delay_ms": -1.0}, "delay_ms must be a number of milliseconds >= 0, got -1.0"),
        ({"jitter_ms": float("nan")}, "jitter_ms must be a number of milliseconds >= 0"),
        ({"loss": 1.5}, "loss must be a probability between 0 and 1, got 1.5"),
        ({"reorder": -0.1}, "reorder must be a probability between 0 and 1"),
        ({"jitter_distribution": "cauchy"}, "unknown jitter distribution 'cauchy'"),
        ({"burst": 0.3}, "burst must be a GilbertElliott channel"),
    ],
)
def test_invalid_conditions_are_refused_clearly(fields: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        NetworkConditions(**fields)


def test_invalid_gilbert_elliott_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="p_good_to_bad must be a probability"):
        GilbertElliott(p_good_to_bad=2.0, p_bad_to_good=0.5)
    with pytest.raises(ConfigError, match="never recovers"):
        GilbertElliott(p_good_to_bad=0.1, p_bad_to_good=0.0)
    with pytest.raises(ConfigError, match="mean_burst_packets must be >= 1"):
        GilbertElliott.from_loss_rate(0.05, 0.5)
    with pytest.raises(ConfigError, match="loss_rate must be below 1"):
        GilbertElliott.from_loss_rate(1.0, 3.0)


def test_with_changes_validates_again() -> None:
    base = NetworkConditions.preset("wifi")
    assert base.with_changes(delay_ms=99.0).delay_ms == 99.0
    with pytest.raises(ConfigError):
        base.with_changes(loss=7)


def test_conditions_and_packets_are_frozen() -> None:
    with pytest.raises(AttributeError):
        NetworkConditions().delay_ms = 5.0  # type: ignore[misc]
    with pytest.raises(AttributeError):
        Packet(1, 0.0, 1.0, b"").seq = 2  # type: ignore[misc]
