"""Text to speech: synthesisers that stream, and the telephone-side wrapper the engine uses.

- `Synthesizer` is the protocol every backend follows: `stream(text)` yields int16 chunks at
  `sample_rate` as they are synthesised. `load_synthesizer("espeak:en-us")` or
  `load_synthesizer("piper:joe")` gives one; `list_voices()` names the usual ones.
- `prepare_text(text, lexicon)` is what is actually spoken: the lexicon, then number reading
  modes (`workbench.speech.numbers`).
- `TelephoneTTS` turns text into 20 ms μ-law frames at 8 kHz as synthesis proceeds, through
  the lexicon, number modes and an optional `TTSCache`.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import re
import time
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from workbench.audio.frames import SAMPLE_RATE as TELEPHONE_RATE
from workbench.audio.frames import Framer, iter_frames
from workbench.audio.resample import StreamingResampler, resample
from workbench.errors import ConfigError, WorkbenchError
from workbench.speech.lexicon import Lexicon
from workbench.speech.numbers import read_numbers
from workbench.speech.tts_cache import TTSCache, cache_key

logger = logging.getLogger(__name__)

# The Klatt variants come first: pocketsphinx recognises them far better than espeak's default
# formant voices (bench speech: WER 12-25 % against 39-54 %), so they make useful test callers.
ESPEAK_VOICES = (
    "espeak:en-us+klatt3",
    "espeak:en-us+klatt4",
    "espeak:en-us+klatt",
    "espeak:en-us",
    "espeak:en-us+f3",
    "espeak:en-us+m3",
    "espeak:en-us+f2",
    "espeak:en-gb",
    "espeak:en-gb+f3",
    "espeak:en-gb-x-rp",
)
PIPER_VOICES = ("piper:joe",)
DEFAULT_VOICE = "espeak:en-us+klatt3"
ULAW_FORMAT = "ulaw/8000"


@runtime_checkable
class Synthesizer(Protocol):
    """A voice that streams audio: int16 chunks at `sample_rate`, as they are synthesised.

    Backends may also expose `rate_wpm` and `pitch` (None = the voice's default); the TTS cache
    key includes them when present. Streams returned by the built-in backends have `close()`,
    which stops synthesis early.
    """

    name: str  # the backend: "espeak" or "piper"
    voice: str  # the full voice name, e.g. "espeak:en-us+f3"

    @property
    def sample_rate(self) -> int: ...

    def stream(self, text: str) -> Iterator[np.ndarray]: ...


class EmptyTextError(WorkbenchError):
    """There is nothing to say."""


class UnknownVoiceError(ConfigError):
    """A backend has no such voice (`load_synthesizer` adds the list of valid ones)."""


def require_text(text: str) -> str:
    """The text itself, or `EmptyTextError` when it is empty or only whitespace."""
    if not isinstance(text, str) or not text.strip():
        raise EmptyTextError("nothing to say: the text is empty")
    return text


def list_voices() -> list[str]:
    """The voice names to offer; any other `espeak:<voice>` espeak-ng knows also loads."""
    return [*ESPEAK_VOICES, *PIPER_VOICES]


def load_synthesizer(
    voice: str = DEFAULT_VOICE, *, rate_wpm: int | None = None, pitch: int | None = None
) -> Synthesizer:
    """A synthesiser for `voice` ("espeak:en-us", "espeak:en-us+f3", "piper:joe", ...).

    An unknown voice, or a setting the backend cannot honour, raises `ConfigError`.
    """
    backend, _, name = voice.partition(":")
    try:
        if backend == "espeak" and name:
            from workbench.speech.tts_espeak import EspeakSynthesizer

            return EspeakSynthesizer(name, rate_wpm=rate_wpm, pitch=pitch)
        if backend == "piper" and name:
            from workbench.speech.tts_piper import PiperSynthesizer

            if pitch is not None:
                raise ConfigError(f"voice {voice!r} has no pitch setting (espeak voices do)")
            return PiperSynthesizer(name, rate_wpm=rate_wpm)
    except UnknownVoiceError as error:
        raise UnknownVoiceError(
            f"unknown voice {voice!r} ({error}); available: {', '.join(list_voices())}"
        ) from None
    raise UnknownVoiceError(f"unknown voice {voice!r}; available: {', '.join(list_voices())}")


def synthesize(synthesizer: Synthesizer, text: str) -> np.ndarray:
    """The whole utterance at the synthesiser's own rate, as one int16 array."""
    chunks = list(synthesizer.stream(require_text(text)))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


def measure_synthesis(synthesizer: Synthesizer, text: str) -> dict[str, float]:
    """One timed synthesis: time to first audio and in total (ms), audio length (s) and RTF.

    For benchmarks; warm the synthesiser up first (piper loads its model on first use).
    """
    started = time.perf_counter()
    first_ms = None
    samples = 0
    for chunk in synthesizer.stream(require_text(text)):
        if first_ms is None:
            first_ms = (time.perf_counter() - started) * 1000
        samples += len(chunk)
    total_ms = (time.perf_counter() - started) * 1000
    audio_s = samples / synthesizer.sample_rate
    return {
        "first_audio_ms": first_ms if first_ms is not None else total_ms,
        "total_ms": total_ms,
        "audio_s": audio_s,
        "rtf": total_ms / 1000 / audio_s if audio_s else float("inf"),
    }


def prepare_text(text: str, lexicon: Lexicon | None = None) -> str:
    """What will actually be spoken: the lexicon, then number reading, whitespace tidied."""
    spoken = require_text(text)
    if lexicon is not None:
        spoken = lexicon.apply(spoken)
    spoken = re.sub(r"\s+", " ", read_numbers(spoken)).strip()
    return require_text(spoken)


@functools.cache
def _pristine_resampler(source_rate: int) -> StreamingResampler:
    return StreamingResampler(source_rate, TELEPHONE_RATE)


def _fresh_resampler(source_rate: int) -> StreamingResampler:
    """A new resampler to 8 kHz; copying a built one skips designing the filter (~1 ms of the
    time to first frame)."""
    return copy.deepcopy(_pristine_resampler(source_rate))


class TelephoneTTS:
    """Speech as the caller hears it: 20 ms, 160-byte μ-law frames at 8 kHz.

    With a cache, a hit replays the stored frames; a miss streams live and stores the whole
    utterance once it has been completely consumed (an utterance cut short is not stored).
    """

    def __init__(
        self,
        synthesizer: Synthesizer,
        lexicon: Lexicon | None = None,
        cache: TTSCache | None = None,
    ) -> None:
        self.synthesizer = synthesizer
        self.lexicon = lexicon
        self.cache = cache

    def prepare_text(self, text: str) -> str:
        return prepare_text(text, self.lexicon)

    def cache_key(self, spoken: str, audio_format: str = ULAW_FORMAT) -> str:
        """The cache key of already-prepared text in the given format."""
        synth = self.synthesizer
        return cache_key(
            backend=synth.name,
            voice=synth.voice,
            rate_wpm=getattr(synth, "rate_wpm", None),
            pitch=getattr(synth, "pitch", None),
            text=spoken,
            audio_format=audio_format,
        )

    def stream_frames(self, text: str) -> Iterator[bytes]:
        """μ-law frames as synthesis proceeds (empty text raises here, not on first `next`)."""
        spoken = self.prepare_text(text)
        if self.cache is None:
            return self._live_frames(spoken)
        key = self.cache_key(spoken)
        cached = self.cache.get(key)
        if cached is not None:
            return iter_frames(cached)
        return self._store_after(key, self._live_frames(spoken))

    def render(self, text: str) -> bytes:
        """The whole utterance as μ-law bytes (a whole number of 20 ms frames)."""
        return b"".join(self.stream_frames(text))

    def render_pcm(self, text: str, rate: int = TELEPHONE_RATE) -> np.ndarray:
        """The whole utterance as int16 PCM at `rate` (e.g. 8000 or 16000), not μ-law coded."""
        spoken = self.prepare_text(text)
        key = self.cache_key(spoken, f"pcm16/{rate}") if self.cache is not None else None
        if key is not None:
            cached = self.cache.get(key)  # type: ignore[union-attr]
            if cached is not None:
                return np.frombuffer(cached, dtype=np.int16).copy()
        pcm = resample(synthesize(self.synthesizer, spoken), self.synthesizer.sample_rate, rate)
        if key is not None:
            self.cache.put(key, pcm.tobytes())  # type: ignore[union-attr]
        return pcm

    def _store_after(self, key: str, frames: Iterator[bytes]) -> Iterator[bytes]:
        played = []
        for frame in frames:
            played.append(frame)
            yield frame
        # Reached only when the consumer took every frame.
        self.cache.put(key, b"".join(played))  # type: ignore[union-attr]

    def _live_frames(self, spoken: str) -> Iterator[bytes]:
        source_rate = self.synthesizer.sample_rate
        resampler = _fresh_resampler(source_rate)
        framer = Framer()
        # The streaming filter lags by `delay_samples`; dropping them aligns the output with
        # the input, so the utterance neither starts late nor ends padded.
        to_skip = resampler.delay_samples
        samples_in = 0
        samples_out = 0
        chunks = self.synthesizer.stream(spoken)
        try:
            for chunk in chunks:
                samples_in += len(chunk)
                out = resampler.process(chunk)
                if to_skip:
                    dropped = min(to_skip, len(out))
                    out, to_skip = out[dropped:], to_skip - dropped
                samples_out += len(out)
                yield from framer.push(out)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:  # cut short (barge-in): stop the synthesiser too
                close()
        wanted = math.ceil(samples_in * TELEPHONE_RATE / source_rate)
        tail = resampler.flush()[to_skip:]
        yield from framer.push(tail[: max(0, wanted - samples_out)])
        yield from framer.flush()
