"""The softphone's caller: typed lines, WAV audio and microphone blocks become 20 ms frames."""

from __future__ import annotations

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import SILENCE_FRAME
from workbench.engine.caller import MAX_MIC_BACKLOG, MAX_MIC_SPEECH_BACKLOG, InteractiveCaller

BLOCK = 160  # one 20 ms block at 8 kHz


def tone_block(level: int = 8000) -> np.ndarray:
    return (np.sin(np.arange(BLOCK) * 0.3) * level).astype(np.int16)


def test_microphone_blocks_are_sent_in_order_one_per_tick():
    caller = InteractiveCaller()
    caller.push_microphone(tone_block(8000))
    caller.push_microphone(tone_block(2000))
    first, second, third = (caller.frame(t * 20.0) for t in range(3))
    assert np.abs(ulaw_decode(first.payload)).max() > np.abs(ulaw_decode(second.payload)).max()
    assert third.payload == SILENCE_FRAME


def test_a_microphone_faster_than_the_call_clock_sheds_its_backlog_in_pauses():
    # A device running ahead of real time (or a call that skipped ticks on a stalled machine)
    # must not make the caller lag: quiet blocks beyond the small backlog are dropped.
    caller = InteractiveCaller()
    for _ in range(MAX_MIC_BACKLOG * 50):
        caller.push_microphone(np.zeros(BLOCK, dtype=np.int16))
    assert caller.mic_blocks_dropped == MAX_MIC_BACKLOG * 49
    sent = [caller.frame(t * 20.0) for t in range(MAX_MIC_BACKLOG + 1)]
    assert caller._frames.qsize() == 0 and sent[-1].payload == SILENCE_FRAME


def test_spoken_blocks_survive_a_stall_and_are_shed_only_beyond_two_seconds():
    # On a loaded machine the call fell 22 blocks behind mid-sentence; dropping words there
    # turned "opening hours" into "opening now ed". Speech waits; only a flood is cut.
    caller = InteractiveCaller()
    for _ in range(30):
        caller.push_microphone(tone_block())
    assert caller.mic_blocks_dropped == 0
    caller.push_microphone(np.zeros(BLOCK, dtype=np.int16))  # a pause behind the words
    assert caller.mic_blocks_dropped == 1
    for _ in range(MAX_MIC_SPEECH_BACKLOG * 2):
        caller.push_microphone(tone_block())
    assert caller.mic_blocks_dropped == 1 + MAX_MIC_SPEECH_BACKLOG * 2 - (
        MAX_MIC_SPEECH_BACKLOG - 30
    )
    sent = [caller.frame(t * 20.0).payload for t in range(MAX_MIC_SPEECH_BACKLOG + 1)]
    assert SILENCE_FRAME not in sent[:MAX_MIC_SPEECH_BACKLOG] and sent[-1] == SILENCE_FRAME


def test_muted_and_on_hold_drop_the_microphone():
    caller = InteractiveCaller()
    caller.muted = True
    caller.push_microphone(tone_block())
    caller.muted, caller.on_hold = False, True
    caller.push_microphone(tone_block())
    caller.on_hold = False
    assert caller.frame(0.0).payload == SILENCE_FRAME
    assert caller.mic_blocks_dropped == 0  # not a backlog drop: the person chose silence


def test_typed_lines_are_spoken_in_the_callers_voice_and_mark_where_speech_ends():
    caller = InteractiveCaller(render=lambda text: np.tile(tone_block(), 3))
    caller.say_text("hello")
    frames = [caller.frame(t * 20.0) for t in range(4)]
    assert all(f.speech_end_ms is not None for f in frames[:3])
    assert frames[3].payload == SILENCE_FRAME and frames[3].speech_end_ms is None
