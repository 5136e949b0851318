"""The Silero voice-onset detector: loads offline from the installed wheel, streams telephone
frames, fires on a caller's voice and not on the room.

The labelled clips are the held-out half of `bench vad`'s lines (never used to choose the
detector's thresholds). Where a test names clips, it names the ones where its claim holds,
and says what happens on the others.
"""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from workbench.errors import ConfigError
from workbench.speech.labelled_lines import labelled_clips
from workbench.speech.silero import (
    WINDOW_MS,
    SileroVoiceDetector,
    default_model_path,
    load_model,
)
from workbench.speech.vad import VadSpeechEnd, VadSpeechStart, VoiceActivityDetector
from workbench.speech.vad_bench import run_detector

FRAME = 160


@pytest.fixture(scope="module")
def heldout() -> dict[str, object]:
    return {clip.id: clip for clip in labelled_clips("heldout")}


def test_the_model_is_the_one_inside_the_installed_faster_whisper_wheel():
    path = default_model_path()
    assert path.name == "silero_vad_v6.onnx"
    assert path.parent.name == "assets" and path.parent.parent.name == "faster_whisper"
    assert path.is_file()


def test_the_model_loads_with_the_network_unreachable(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    load_model.cache_clear()
    detector = SileroVoiceDetector()
    assert detector.process(np.zeros(FRAME, dtype=np.int16), 0.0) is None


def test_a_model_with_another_signature_is_refused_by_name():
    # A real ONNX file that is not Silero: the one-op sample model onnxruntime ships.
    other = Path(onnxruntime.__file__).parent / "datasets" / "sigmoid.onnx"
    with pytest.raises(ConfigError, match="expected a Silero model"):
        SileroVoiceDetector(model_path=other)


def test_a_missing_model_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        SileroVoiceDetector(model_path=tmp_path / "none.onnx")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"threshold": 0},
        {"threshold": 1.2},
        {"sample_rate": 44100},
        {"stop_ms": -1},
        {"noise_margin": 0},
    ],
)
def test_bad_settings_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        SileroVoiceDetector(**kwargs)


def test_a_frames_verdict_is_only_defined_for_the_frame_just_processed():
    detector = SileroVoiceDetector()
    frame = np.zeros(FRAME, dtype=np.int16)
    with pytest.raises(ValueError, match="process"):
        detector.frame_is_speech(frame)
    detector.process(frame, 0.0)
    assert detector.frame_is_speech(frame) is False
    with pytest.raises(ValueError):
        detector.frame_is_speech(np.ones(FRAME, dtype=np.int16))


def _events(detector, pcm):
    out = []
    for index in range(len(pcm) // FRAME):
        event = detector.process(pcm[index * FRAME : (index + 1) * FRAME], index * 20.0)
        if event is not None:
            out.append((index * 20.0 + 20.0, event))
    return out


@pytest.mark.slow
def test_every_heldout_line_without_babble_or_a_transient_is_heard_within_the_barge_in_budget(
    heldout,
):
    # 12 held-out lines: clean, or line noise at 10-20 dB; three voices, three rates. Measured
    # here: p50 ~78 ms, worst 148 ms; on the CI machine one line ("Stop, please." at 10 dB) took
    # 188 ms (the model's float arithmetic differs between CPUs, and one 32 ms window more tips
    # a line near the threshold). The claim is the 250 ms barge-in budget for every line, and a
    # median well inside it. Lines after a cough, breath or door and lines in babble are slower
    # or earlier (see BENCHMARKS.md): not claimed here.
    chosen = [
        clip
        for clip in heldout.values()
        if clip.kind != "noise"
        and clip.condition.transient is None
        and clip.condition.background != "babble"
    ]
    assert len(chosen) >= 10
    latencies = []
    for clip in chosen:
        result = run_detector(SileroVoiceDetector(), clip)
        assert not result.early, clip.id
        assert result.onset_latency_ms is not None, clip.id
        assert result.onset_latency_ms <= 250.0, (clip.id, result.onset_latency_ms)
        latencies.append(result.onset_latency_ms)
    assert float(np.median(latencies)) <= 120.0, sorted(latencies)


@pytest.mark.slow
def test_the_start_carries_the_voices_onset_and_the_end_follows_its_last_word(heldout):
    clip = heldout["heldout-008"]  # "Yes." (espeak en-us+f3, 140 wpm) on a clean line
    assert clip.condition.name == "clean"
    events = _events(SileroVoiceDetector(), clip.pcm)
    kinds = [type(event) for _, event in events]
    assert kinds == [VadSpeechStart, VadSpeechEnd]
    (confirmed, start), (_, end) = events
    # The start is the beginning of the window that first held speech: within a window of
    # the truth, and before the moment it was confirmed.
    assert clip.onset_ms - WINDOW_MS <= start.t_ms <= clip.onset_ms + WINDOW_MS < confirmed
    assert clip.speech_end_ms - 3 * WINDOW_MS <= end.t_ms <= clip.speech_end_ms + 2 * WINDOW_MS


@pytest.mark.slow
@pytest.mark.parametrize("clip_id", ["heldout-noise-12", "heldout-noise-13", "heldout-noise-14",
                                     "heldout-noise-15"])  # fmt: skip
def test_office_babble_at_10_db_alone_never_fires_it(heldout, clip_id):
    clip = heldout[clip_id]
    assert clip.condition.name == "babble@10dB"
    assert run_detector(SileroVoiceDetector(), clip).confirmed_ms == ()
    # Babble is speech, other people's: without the energy gate Silero fires on it, and so
    # does webrtcvad; the gate is what keeps the room out.
    assert run_detector(SileroVoiceDetector(noise_margin=None), clip).confirmed_ms != ()
    assert run_detector(VoiceActivityDetector(), clip).confirmed_ms != ()


@pytest.mark.slow
@pytest.mark.parametrize("clip_id", ["heldout-noise-00", "heldout-noise-01", "heldout-noise-02"])
def test_a_cough_on_a_quiet_or_hissing_line_never_fires_it(heldout, clip_id):
    # (A cough inside 20 dB babble, heldout-noise-03, does fire it: the held-out split's one
    # false fire.)
    clip = heldout[clip_id]
    assert clip.condition.transient == "cough"
    assert run_detector(SileroVoiceDetector(), clip).confirmed_ms == ()
    assert run_detector(VoiceActivityDetector(), clip).confirmed_ms != ()


def test_detectors_share_one_model_session_but_not_their_state():
    # (no energy gate: noise at one level would never be worth running the model for)
    first, second = SileroVoiceDetector(noise_margin=None), SileroVoiceDetector(noise_margin=None)
    assert first._session is second._session
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(FRAME * 20) * 3000).astype(np.int16)
    _events(first, noise)
    assert first.probability != second.probability == 0.0


@pytest.mark.slow
def test_idling_skips_the_model_and_resuming_hears_the_voice_already_under_way(heldout):
    # While the agent is quiet the session idles the detector (no barge-in to detect); when
    # the agent starts over a caller who is already talking, the model, warmed on the line's
    # last 320 ms, must find the voice about as soon as a detector that never idled.
    clip = max(
        (c for c in heldout.values() if c.kind != "noise" and c.condition.name == "clean"),
        key=lambda c: c.speech_end_ms - c.onset_ms,
    )
    always, idled = SileroVoiceDetector(), SileroVoiceDetector()
    onset = int(clip.onset_ms // 20)
    resume_at = onset + 10  # 200 ms into the voice
    assert clip.speech_end_ms > (resume_at + 10) * 20.0
    confirmed: dict[str, int] = {}
    for index in range(len(clip.pcm) // FRAME):
        frame, t_ms = clip.pcm[index * FRAME : (index + 1) * FRAME], index * 20.0
        always.process(frame, t_ms)
        if index < resume_at:
            idled.idle(frame, t_ms, speech=index >= onset)
            assert idled.probability == 0.0 and not idled.is_speech
        else:
            idled.process(frame, t_ms)
        for name, detector in (("always", always), ("idled", idled)):
            if detector.is_speech and index >= resume_at:
                confirmed.setdefault(name, index)
    assert confirmed["always"] == resume_at  # the voice was under way already
    assert confirmed["idled"] - resume_at <= 3, confirmed  # heard within 60 ms of resuming


class _CountingSession:
    """The real model session, counting its runs (a named fake wrapper)."""

    def __init__(self, session) -> None:
        self.session, self.runs = session, 0

    def run(self, *args, **kwargs):
        self.runs += 1
        return self.session.run(*args, **kwargs)


def test_the_model_runs_only_where_the_energy_gate_could_let_a_voice_start(heldout):
    # A start needs a window well above the line's floor whatever the model says, so below the
    # gate the model is not run (each run lets go of the GIL, which a busy server pays for);
    # the voice is still found, from a state warmed on the windows skipped before it.
    clip = max(
        (c for c in heldout.values() if c.kind != "noise" and c.condition.name == "clean"),
        key=lambda c: c.speech_end_ms - c.onset_ms,
    )
    gated = SileroVoiceDetector()
    counting = gated._session = _CountingSession(gated._session)
    onset = int(clip.onset_ms // 20)
    confirmed = None
    frames = len(clip.pcm) // FRAME
    for index in range(frames):
        gated.process(clip.pcm[index * FRAME : (index + 1) * FRAME], index * 20.0)
        if gated.is_speech and confirmed is None:
            confirmed = index
        if index == onset - 1:
            assert counting.runs == 0  # the quiet line before the voice: never run
    assert 0 < counting.runs < frames * 20 / 32  # run on fewer than all windows
    assert confirmed is not None and onset <= confirmed <= onset + 10  # within 200 ms
