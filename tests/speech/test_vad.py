"""Voice activity detection: webrtcvad verdicts turned into speech start/end events."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_MS, FRAME_SAMPLES, iter_frames
from workbench.errors import ConfigError
from workbench.speech.tts import TelephoneTTS, load_synthesizer
from workbench.speech.vad import VadSpeechEnd, VadSpeechStart, VoiceActivityDetector

LEAD_MS = 500
TAIL_MS = 600


@pytest.fixture(scope="module")
def padded_sentence() -> tuple[np.ndarray, float, float]:
    """A spoken sentence at 8 kHz between known silences, and where its audio really starts/ends."""
    ulaw = TelephoneTTS(load_synthesizer("espeak:en-us")).render("What are your opening hours?")
    speech = ulaw_decode(ulaw)
    loud = np.flatnonzero(np.abs(speech.astype(np.int32)) > 300)
    onset_ms = LEAD_MS + 1000 * loud[0] / 8000
    offset_ms = LEAD_MS + 1000 * (loud[-1] + 1) / 8000
    lead = np.zeros(LEAD_MS * 8, dtype=np.int16)
    tail = np.zeros(TAIL_MS * 8, dtype=np.int16)
    return np.concatenate([lead, speech, tail]), onset_ms, offset_ms


def run(vad: VoiceActivityDetector, pcm: np.ndarray) -> list[tuple[float, object]]:
    """Feed 20 ms frames; (time the event was emitted = end of the frame, event)."""
    events = []
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        t_ms = i / 8
        event = vad.process(pcm[i : i + FRAME_SAMPLES], t_ms)
        if event is not None:
            events.append((t_ms + FRAME_MS, event))
    return events


def test_finds_the_onset_of_speech_within_60_ms(padded_sentence):
    pcm, onset_ms, _ = padded_sentence
    events = run(VoiceActivityDetector(), pcm)
    starts = [e for _, e in events if isinstance(e, VadSpeechStart)]
    assert len(starts) == 1
    assert abs(starts[0].t_ms - onset_ms) <= 60


def test_finds_the_end_of_speech_and_confirms_it_after_the_stop_hangover(padded_sentence):
    pcm, _, offset_ms = padded_sentence
    events = run(VoiceActivityDetector(stop_ms=200), pcm)
    ends = [(emitted, e) for emitted, e in events if isinstance(e, VadSpeechEnd)]
    assert len(ends) == 1
    emitted_ms, end = ends[0]
    assert abs(end.t_ms - offset_ms) <= 100
    assert emitted_ms - end.t_ms == pytest.approx(200, abs=FRAME_MS)


def test_start_is_confirmed_only_after_start_ms_of_consecutive_speech(padded_sentence):
    pcm, _, _ = padded_sentence
    emitted_ms, start = next(
        (t, e)
        for t, e in run(VoiceActivityDetector(start_ms=100), pcm)
        if isinstance(e, VadSpeechStart)
    )
    assert emitted_ms - start.t_ms >= 100


def test_is_speech_follows_the_events(padded_sentence):
    pcm, onset_ms, offset_ms = padded_sentence
    vad = VoiceActivityDetector()
    states = {}
    for i in range(0, len(pcm) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        vad.process(pcm[i : i + FRAME_SAMPLES], i / 8)
        states[i / 8] = vad.is_speech
    assert not states[0]
    assert states[(onset_ms + offset_ms) // 2 // FRAME_MS * FRAME_MS]
    assert not states[max(states)]


def test_silence_and_a_short_click_produce_no_events():
    vad = VoiceActivityDetector(start_ms=60)
    silence = np.zeros(FRAME_SAMPLES, dtype=np.int16)
    rng = np.random.default_rng(1)
    click = (rng.normal(0, 8000, FRAME_SAMPLES)).astype(np.int16)  # one 20 ms burst
    frames = [silence] * 10 + [click] + [silence] * 20
    assert [vad.process(f, i * FRAME_MS) for i, f in enumerate(frames)] == [None] * len(frames)
    assert not vad.is_speech


def test_reset_forgets_an_ongoing_utterance(padded_sentence):
    pcm, onset_ms, _ = padded_sentence
    vad = VoiceActivityDetector()
    middle = int((onset_ms + 300) * 8) // FRAME_SAMPLES * FRAME_SAMPLES
    run(vad, pcm[:middle])
    assert vad.is_speech
    vad.reset()
    assert not vad.is_speech


def test_accepts_decoded_telephone_frames_directly():
    ulaw = TelephoneTTS(load_synthesizer("espeak:en-us")).render("Hello there.")
    vad = VoiceActivityDetector()
    verdicts = [vad.frame_is_speech(ulaw_decode(f)) for f in iter_frames(ulaw)]
    assert any(verdicts)


def test_rejects_frames_webrtcvad_cannot_take_and_bad_settings():
    vad = VoiceActivityDetector()
    with pytest.raises(ValueError, match="10, 20 or 30 ms"):
        vad.process(np.zeros(200, dtype=np.int16), 0.0)  # 25 ms
    with pytest.raises(ConfigError, match="aggressiveness"):
        VoiceActivityDetector(aggressiveness=4)
    with pytest.raises(ConfigError, match="sample rate"):
        VoiceActivityDetector(sample_rate=11025)


# ---------------------------------------------------------------- the noise-gated detector


def test_the_noise_gate_keeps_steady_room_noise_out_but_lets_a_louder_voice_in():
    from workbench.speech.vad import NoiseGatedVoiceActivityDetector

    rng = np.random.default_rng(0)
    # A hum-and-hiss floor webrtcvad itself calls speech, then a voice-like burst 20 dB up.
    t = np.arange(8000 * 3) / 8000
    floor = 300 * np.sin(2 * np.pi * 180 * t) + 100 * rng.standard_normal(len(t))
    burst = np.zeros(len(t))
    burst[16000:20000] = (
        3000
        * np.sin(2 * np.pi * 220 * t[16000:20000])
        * np.sin(2 * np.pi * 3 * t[16000:20000]) ** 2
    )
    pcm = np.clip(floor + burst, -32768, 32767).astype(np.int16)
    plain = [e for _, e in run(VoiceActivityDetector(), pcm) if isinstance(e, VadSpeechStart)]
    gated = [
        e for _, e in run(NoiseGatedVoiceActivityDetector(), pcm) if isinstance(e, VadSpeechStart)
    ]
    assert plain and plain[0].t_ms < 1900  # webrtcvad alone fires on the floor
    assert len(gated) == 1 and 2000 <= gated[0].t_ms <= 2200  # the gate waits for the voice
