"""The jitter buffer: seq order out, late packets dropped, losses concealed, delay adapts."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.frames import SILENCE_FRAME
from workbench.audio.jitter import JitterBuffer, PlayoutFrame
from workbench.audio.network import NetworkConditions, NetworkLeg, Packet

FRAME_MS = 20.0


def loud_frame(seq: int) -> bytes:
    """A distinct, loud 20 ms tone per seq (never quiet, so the buffer never drops it)."""
    t = np.arange(160) / 8000
    return ulaw_encode(np.round(12000 * np.sin(2 * np.pi * (300 + 10 * (seq % 50)) * t)))


def packet(seq: int, transit_ms: float = 10.0) -> Packet:
    sent = seq * FRAME_MS
    return Packet(seq=seq, sent_ms=sent, arrival_ms=sent + transit_ms, payload=loud_frame(seq))


def energy(payload: bytes) -> float:
    return float(np.mean(ulaw_decode(payload).astype(np.float64) ** 2))


def play(buffer: JitterBuffer, packets: list[Packet], ticks: int) -> list[PlayoutFrame]:
    """Push packets as they arrive and pop once per 20 ms tick, as a driver would."""
    pending = sorted(packets, key=lambda p: p.arrival_ms)
    frames = []
    for tick in range(ticks):
        now = tick * FRAME_MS
        while pending and pending[0].arrival_ms <= now:
            buffer.push(pending.pop(0))
        frames.append(buffer.pop(now))
    return frames


def through_leg(conditions: NetworkConditions, frames: int, seed: int = 3) -> list[Packet]:
    leg = NetworkLeg(conditions, seed=seed)
    sent = (leg.send(seq, seq * FRAME_MS, loud_frame(seq)) for seq in range(frames))
    return [p for p in sent if p is not None]


def test_silence_until_the_first_packet_has_waited_the_initial_delay() -> None:
    buffer = JitterBuffer(initial_delay_ms=40.0)
    assert buffer.pop(0.0) == PlayoutFrame("silence", SILENCE_FRAME)
    buffer.push(Packet(0, 0.0, 100.0, loud_frame(0)))
    assert buffer.pop(120.0).kind == "silence"
    assert buffer.pop(140.0) == PlayoutFrame("audio", loud_frame(0), 0, 0.0)


def test_out_of_order_packets_play_in_seq_order() -> None:
    arrivals = [packet(0, 10), packet(2, 12), packet(1, 35), packet(4, 30), packet(3, 31)]
    frames = play(JitterBuffer(adaptive=False), arrivals, ticks=10)
    audio = [f for f in frames if f.kind == "audio"]
    assert [f.seq for f in audio] == [0, 1, 2, 3, 4]
    assert [f.payload for f in audio] == [loud_frame(s) for s in range(5)]
    assert [f.sent_ms for f in audio] == [0.0, 20.0, 40.0, 60.0, 80.0]


def test_audio_frames_tell_how_long_they_spent_in_leg_and_buffer() -> None:
    arrivals = through_leg(NetworkConditions(delay_ms=60.0), frames=50)
    frames = play(JitterBuffer(adaptive=False), arrivals, ticks=60)
    waits = {tick * FRAME_MS - f.sent_ms for tick, f in enumerate(frames) if f.kind == "audio"}
    assert waits == {100.0}  # 60 ms in the leg, the initial 40 ms in the buffer


def test_a_single_loss_is_concealed_by_a_faded_repeat() -> None:
    arrivals = [packet(seq) for seq in range(10) if seq != 5]
    buffer = JitterBuffer(adaptive=False)
    frames = play(buffer, arrivals, ticks=14)
    kinds = [f.kind for f in frames]
    first = kinds.index("audio")
    assert kinds[first : first + 10] == ["audio"] * 5 + ["concealed"] + ["audio"] * 4
    concealed, previous = frames[first + 5], frames[first + 4]
    assert len(concealed.payload) == 160
    assert (concealed.seq, concealed.sent_ms) == (None, None)
    assert energy(concealed.payload) < 0.8 * energy(previous.payload)
    # It is the last frame, scaled: strongly correlated with it.
    correlation = np.corrcoef(ulaw_decode(concealed.payload), ulaw_decode(previous.payload))[0, 1]
    assert correlation > 0.9
    stats = buffer.stats
    assert (stats.received, stats.played, stats.lost, stats.late) == (9, 9, 1, 0)
    assert stats.concealed == kinds.count("concealed")  # the loss, then the fade after the end


def test_a_long_loss_fades_out_then_plays_silence() -> None:
    arrivals = [packet(seq) for seq in range(20) if not 5 <= seq < 12]
    buffer = JitterBuffer(adaptive=False, max_conceal_frames=3)
    frames = play(buffer, arrivals, ticks=25)
    first = [f.kind for f in frames].index("audio")
    gap = frames[first + 5 : first + 12]
    assert [f.kind for f in gap] == ["concealed"] * 3 + ["silence"] * 4
    energies = [energy(frames[first + 4].payload)] + [energy(f.payload) for f in gap[:3]]
    assert energies == sorted(energies, reverse=True) and energies[-1] < energies[0] / 10
    assert all(f.payload == SILENCE_FRAME for f in gap[3:])
    assert frames[first + 12].seq == 12
    assert buffer.stats.lost == 7


def test_a_packet_after_its_slot_is_dropped_as_late() -> None:
    arrivals = [packet(seq) for seq in range(10) if seq != 4] + [packet(4, transit_ms=200.0)]
    buffer = JitterBuffer(adaptive=False)
    frames = play(buffer, arrivals, ticks=20)
    assert [f.seq for f in frames if f.kind == "audio"] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    stats = buffer.stats
    assert stats.late == 1
    assert stats.lost == 0  # it did arrive, too late: counted as late, not as lost
    assert stats.received == 10 and stats.played == 9


def test_when_the_sender_stops_the_buffer_drains_to_silence_without_counting_loss() -> None:
    buffer = JitterBuffer(adaptive=False, max_conceal_frames=3)
    frames = play(buffer, [packet(seq) for seq in range(10)], ticks=40)
    kinds = [f.kind for f in frames]
    last_audio = max(i for i, k in enumerate(kinds) if k == "audio")
    assert kinds[last_audio + 1 : last_audio + 4] == ["concealed"] * 3  # fade out the tail
    assert set(kinds[last_audio + 4 :]) == {"silence"}
    assert buffer.stats.lost == 0 and buffer.stats.late == 0


def test_after_a_pause_the_next_talk_spurt_plays_without_loss() -> None:
    # RTP-style numbering: the sender paused 1 s but its seq carries on from 10.
    first = [packet(seq) for seq in range(10)]
    second = [
        Packet(seq, 1200.0 + i * FRAME_MS, 1210.0 + i * FRAME_MS, loud_frame(seq))
        for i, seq in enumerate(range(10, 20))
    ]
    buffer = JitterBuffer(adaptive=False)
    frames = play(buffer, first + second, ticks=100)
    assert [f.seq for f in frames if f.kind == "audio"] == list(range(20))
    assert buffer.stats.lost == 0 and buffer.stats.late == 0
    restart = next(i for i, f in enumerate(frames) if f.seq == 10)
    assert restart * FRAME_MS - 1210.0 >= 40.0  # the new spurt waited the target delay again


def test_a_gap_in_seq_across_a_pause_counts_as_lost() -> None:
    first = [packet(seq) for seq in range(10)]
    second = [
        Packet(seq, 1200.0 + i * FRAME_MS, 1210.0 + i * FRAME_MS, loud_frame(seq))
        for i, seq in enumerate(range(15, 20))
    ]
    buffer = JitterBuffer(adaptive=False)
    play(buffer, first + second, ticks=100)
    assert buffer.stats.lost == 5  # seq 10-14 never came, and seq 15 proves they were sent


def test_duplicates_are_played_once() -> None:
    arrivals = [packet(seq) for seq in range(5)] + [packet(2, transit_ms=11.0)]
    frames = play(JitterBuffer(adaptive=False), arrivals, ticks=10)
    assert [f.seq for f in frames if f.kind == "audio"] == [0, 1, 2, 3, 4]


def test_clean_leg_keeps_the_delay_low_and_loses_nothing() -> None:
    buffer = JitterBuffer()
    arrivals = through_leg(NetworkConditions(delay_ms=30.0), frames=500)
    frames = play(buffer, arrivals, ticks=500)
    stats = buffer.stats
    assert stats.target_delay_ms == buffer.min_delay_ms
    # The initial delay, rounded up to the next tick; loud frames are never dropped to shrink it.
    assert stats.current_delay_ms <= 40.0 + FRAME_MS
    assert (stats.late, stats.lost, stats.concealed) == (0, 0, 0)
    assert all(f.kind == "audio" for f in frames[4:])


def test_delay_adapts_upward_under_high_jitter() -> None:
    conditions = NetworkConditions(delay_ms=30.0, jitter_ms=50.0)
    adaptive = JitterBuffer()
    play(adaptive, through_leg(conditions, frames=1000), ticks=1000)
    fixed = JitterBuffer(adaptive=False)
    play(fixed, through_leg(conditions, frames=1000), ticks=1000)
    assert adaptive.stats.target_delay_ms > 100.0
    assert adaptive.stats.current_delay_ms > 100.0
    assert adaptive.stats.target_delay_ms <= adaptive.max_delay_ms
    assert fixed.stats.target_delay_ms == 40.0
    # Waiting longer is the point: far fewer packets miss their slot.
    assert adaptive.stats.late < 0.7 * fixed.stats.late


def test_a_fixed_buffer_keeps_one_delay_and_drops_what_misses_it() -> None:
    buffer = JitterBuffer(adaptive=False)
    arrivals = through_leg(NetworkConditions(delay_ms=30.0, jitter_ms=50.0), frames=1000)
    frames = play(buffer, arrivals, ticks=1030)
    waits = {tick * FRAME_MS - f.sent_ms for tick, f in enumerate(frames) if f.kind == "audio"}
    assert len(waits) == 1  # one spurt, one leg+buffer time for every frame
    stats = buffer.stats
    assert stats.late > 0 and stats.lost == 0  # the leg lost nothing; late ones were dropped
    assert stats.played + stats.late == stats.received == 1000
    assert stats.target_delay_ms == 40.0


@pytest.mark.parametrize("adaptive", [True, False])
def test_a_delay_step_mid_call_resynchronises_without_losing_frames(adaptive: bool) -> None:
    leg = NetworkLeg(NetworkConditions(delay_ms=30.0), seed=1)
    arrivals = []
    for seq in range(400):
        if seq == 200:  # the scenario moves the caller onto a far slower path
            leg.set_conditions(NetworkConditions(delay_ms=230.0))
        arrivals.append(leg.send(seq, seq * FRAME_MS, loud_frame(seq)))
    buffer = JitterBuffer(adaptive=adaptive)
    frames = play(buffer, arrivals, ticks=420)
    assert [f.seq for f in frames if f.kind == "audio"] == list(range(400))
    assert (buffer.stats.lost, buffer.stats.late) == (0, 0)
    # The 200 ms hole is bridged by a short fade, then silence until the new spurt starts.
    seqs = [f.seq for f in frames]
    hole = [f.kind for f in frames[seqs.index(199) + 1 : seqs.index(200)]]
    assert hole[:3] == ["concealed"] * 3 and set(hole[3:]) == {"silence"} and len(hole) >= 8


def test_delay_comes_back_down_through_quiet_frames_when_jitter_ends() -> None:
    quiet = ulaw_encode(np.zeros(160, dtype=np.int16))
    spike = [
        Packet(s, s * FRAME_MS, s * FRAME_MS + (150.0 if s == 20 else 10.0), quiet)
        for s in range(300)
    ]
    buffer = JitterBuffer(max_delay_ms=200.0)
    play(buffer, spike, ticks=300)
    # One 150 ms straggler among steady packets: the target falls back once it leaves the window.
    assert buffer.stats.current_delay_ms <= 60.0
    assert buffer.stats.dropped > 0


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="initial_delay_ms 500"):
        JitterBuffer(initial_delay_ms=500.0)
    with pytest.raises(ValueError, match="min_delay_ms <= max_delay_ms"):
        JitterBuffer(min_delay_ms=100.0, max_delay_ms=50.0, initial_delay_ms=60.0)
    with pytest.raises(ValueError, match="frame_ms must be positive"):
        JitterBuffer(frame_ms=0)
