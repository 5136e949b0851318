"""The TTS cache: content-addressed, memory and disk, identical audio on a hit, counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from workbench.speech.lexicon import Lexicon
from workbench.speech.tts import Synthesizer, TelephoneTTS, load_synthesizer
from workbench.speech.tts_cache import TTSCache, cache_key

SENTENCE = "Your order has shipped and should arrive on Tuesday."


@pytest.fixture(autouse=True)
def workbench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


class CountingSynthesizer:
    """Wraps a real synthesiser and counts how often it is asked to speak."""

    def __init__(self, inner: Synthesizer) -> None:
        self.inner = inner
        self.name = inner.name
        self.voice = inner.voice
        self.rate_wpm = getattr(inner, "rate_wpm", None)
        self.pitch = getattr(inner, "pitch", None)
        self.sample_rate = inner.sample_rate
        self.calls = 0

    def stream(self, text: str) -> Iterator[np.ndarray]:
        self.calls += 1
        return self.inner.stream(text)


def key(text: str = SENTENCE, **changes: object) -> str:
    fields: dict = dict(backend="espeak", voice="espeak:en-us", rate_wpm=None, pitch=None)
    fields.update(changes)
    return cache_key(text=text, audio_format="ulaw/8000", **fields)


def test_a_hit_returns_the_stored_bytes_and_is_counted(tmp_path: Path) -> None:
    cache = TTSCache(tmp_path / "tts")
    assert cache.get(key()) is None
    cache.put(key(), b"\x01\x02\x03")
    assert cache.get(key()) == b"\x01\x02\x03"
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    assert cache.stats.memory_hits == 1


def test_a_new_cache_over_the_same_directory_hits_from_disk(tmp_path: Path) -> None:
    TTSCache(tmp_path / "tts").put(key(), b"audio")
    reopened = TTSCache(tmp_path / "tts")
    assert reopened.get(key()) == b"audio"
    assert (reopened.stats.hits, reopened.stats.disk_hits, reopened.stats.misses) == (1, 1, 0)
    assert reopened.get(key()) == b"audio"
    assert reopened.stats.memory_hits == 1  # promoted to memory


def test_the_default_directory_is_under_workbench_home(workbench_home: Path) -> None:
    cache = TTSCache()
    assert cache.directory == workbench_home / "cache" / "tts"


def test_memory_is_bounded_least_recently_used_first(tmp_path: Path) -> None:
    cache = TTSCache(False, memory_bytes=10)
    cache.put("a", b"12345")
    cache.put("b", b"12345")
    assert cache.get("a") == b"12345"  # a is now the most recent
    cache.put("c", b"12345")
    assert cache.get("b") is None
    assert cache.get("a") == b"12345" and cache.get("c") == b"12345"


def test_every_setting_that_changes_the_audio_changes_the_key() -> None:
    keys = {
        key(),
        key("Your order has shipped."),
        key(voice="espeak:en-us+f3"),
        key(backend="piper", voice="piper:joe"),
        key(rate_wpm=200),
        key(pitch=70),
        cache_key(
            backend="espeak",
            voice="espeak:en-us",
            rate_wpm=None,
            pitch=None,
            text=SENTENCE,
            audio_format="pcm16/16000",
        ),
    }
    assert len(keys) == 7
    assert key() == key()


def test_telephone_tts_replays_a_hit_without_synthesising(tmp_path: Path) -> None:
    synth = CountingSynthesizer(load_synthesizer("espeak:en-us"))
    cache = TTSCache(tmp_path / "tts")
    tts = TelephoneTTS(synth, cache=cache)
    first = tts.render(SENTENCE)
    second = tts.render(SENTENCE)
    assert first == second
    assert synth.calls == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    frames = list(tts.stream_frames(SENTENCE))
    assert all(len(frame) == 160 for frame in frames)
    assert b"".join(frames) == first


def test_the_disk_cache_survives_a_new_process_worth_of_objects(tmp_path: Path) -> None:
    first = TelephoneTTS(load_synthesizer("espeak:en-us"), cache=TTSCache(tmp_path / "tts"))
    audio = first.render(SENTENCE)
    synth = CountingSynthesizer(load_synthesizer("espeak:en-us"))
    second = TelephoneTTS(synth, cache=TTSCache(tmp_path / "tts"))
    assert second.render(SENTENCE) == audio
    assert synth.calls == 0
    assert second.cache is not None and second.cache.stats.disk_hits == 1


def test_the_key_uses_the_text_after_the_lexicon(tmp_path: Path) -> None:
    cache = TTSCache(tmp_path / "tts")
    synth = CountingSynthesizer(load_synthesizer("espeak:en-us"))
    plain = TelephoneTTS(synth, cache=cache)
    spelled_out = TelephoneTTS(synth, lexicon=Lexicon({"SQL": "sequel"}), cache=cache)
    plain.render("We use sequel.")
    spelled_out.render("We use SQL.")  # says the same words: a hit
    assert synth.calls == 1
    plain.render("We use SQL.")  # says different words: a miss
    assert synth.calls == 2


def test_an_utterance_cut_short_is_not_stored(tmp_path: Path) -> None:
    cache = TTSCache(tmp_path / "tts")
    tts = TelephoneTTS(load_synthesizer("espeak:en-us"), cache=cache)
    frames = tts.stream_frames(SENTENCE)
    next(frames)
    frames.close()  # barge-in
    assert tts.cache_key(tts.prepare_text(SENTENCE)) not in cache
    assert cache.stats.stores == 0


def test_render_pcm_is_cached_per_rate(tmp_path: Path) -> None:
    synth = CountingSynthesizer(load_synthesizer("espeak:en-us"))
    tts = TelephoneTTS(synth, cache=TTSCache(tmp_path / "tts"))
    a = tts.render_pcm(SENTENCE, 16000)
    b = tts.render_pcm(SENTENCE, 16000)
    np.testing.assert_array_equal(a, b)
    assert synth.calls == 1
    tts.render_pcm(SENTENCE, 8000)
    assert synth.calls == 2
