"""Speech to text: the recogniser interface, the backends behind it, and the telephone adapter.

A `StreamingRecognizer` takes 16 kHz int16 PCM of one utterance at a time: `begin_utterance()`,
any number of `feed(pcm16k)` calls (each returns the new partial hypothesis when it changed),
then `end_utterance()` for the final `Transcript`. Loading a recogniser is slow (a decoder and
its models), so load one and reuse it for many utterances; a recogniser is not thread-safe.

Callers hold telephone audio (8 kHz, 20 ms frames); `TelephoneRecognizer` streams it through a
stateful 8 → 16 kHz resampler into any recogniser, because the bundled acoustic model is 16 kHz
only (see offline-stack.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import SAMPLE_RATE, STT_SAMPLE_RATE
from workbench.errors import ConfigError

BACKENDS = ("pocketsphinx", "whisper")


@dataclass(frozen=True)
class Word:
    """One recognised word and where it lies, in ms from the start of the utterance's audio."""

    word: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class Transcript:
    """The final result of one utterance; `confidence` is 0..1 (each backend documents how)."""

    text: str
    words: tuple[Word, ...]
    confidence: float


class StreamingRecognizer(Protocol):
    """What the engine needs from a speech recogniser (16 kHz int16 input)."""

    name: str

    def begin_utterance(self) -> None:
        """Start a new utterance; its audio's first sample is time 0 for word timings."""

    def feed(self, pcm16k: np.ndarray) -> str | None:
        """Add audio; return the new partial hypothesis if it changed, else None."""

    def end_utterance(self) -> Transcript:
        """Finish the utterance and return the final transcript."""


def load_recognizer(
    backend: str = "pocketsphinx",
    *,
    domain_sentences: Sequence[str] | None = None,
    spoken_forms: Mapping[str, str] | None = None,
    vocabulary: Sequence[str] = (),
) -> StreamingRecognizer:
    """A ready recogniser. With `domain_sentences`, recognition is biased to their vocabulary.

    pocketsphinx builds (or reuses from the cache) a domain language model from the sentences
    (words its dictionary lacks are pronounced as `spoken_forms` says, else by rule), else
    uses its general English model; whisper is biased by `vocabulary` (names, products).
    The recogniser expects telephone-band audio upsampled to 16 kHz (what calls carry); for
    wideband audio call `set_input_band(recognizer, "wideband")`. An unknown backend raises
    `ConfigError`.
    """
    if backend == "pocketsphinx":
        from workbench.speech.stt_pocketsphinx import PocketsphinxRecognizer

        return PocketsphinxRecognizer(domain_sentences=domain_sentences, spoken_forms=spoken_forms)
    if backend == "whisper":
        from workbench.speech.stt_whisper import WhisperRecognizer

        return WhisperRecognizer(vocabulary=vocabulary)
    raise ConfigError(f"unknown STT backend {backend!r} (choose one of: {', '.join(BACKENDS)})")


def set_input_band(recognizer: StreamingRecognizer, band: str) -> None:
    """Tell a recogniser whether its 16 kHz input is "telephone" band (upsampled 8 kHz) or
    "wideband", for backends that adapt to it (pocketsphinx seeds its CMN); others ignore it."""
    setter = getattr(recognizer, "set_input_band", None)
    if setter is not None:
        setter(band)


class TelephoneRecognizer:
    """Feeds 8 kHz telephone audio (int16 frames, or μ-law bytes) to a 16 kHz recogniser.

    The resampler keeps its filter state across frames, so frame boundaries leave no artefacts;
    its small causal delay is flushed at the end of each utterance and subtracted from word
    timings, which are therefore in ms from the first telephone sample of the utterance.
    """

    def __init__(self, recognizer: StreamingRecognizer) -> None:
        self.recognizer = recognizer
        self.name = getattr(recognizer, "name", type(recognizer).__name__)
        set_input_band(recognizer, "telephone")
        # Imported here: scipy.signal takes ~0.6 s to import, and `stt` is imported by commands
        # that may fail on their input before they need it.
        from workbench.audio.resample import StreamingResampler

        self._resampler = StreamingResampler(SAMPLE_RATE, STT_SAMPLE_RATE)
        self._delay_ms = 1000.0 * self._resampler.delay_samples / STT_SAMPLE_RATE
        self._fed_samples = 0

    def begin_utterance(self) -> None:
        self._resampler.reset()
        self._fed_samples = 0
        self.recognizer.begin_utterance()

    def feed(self, pcm8k: np.ndarray) -> str | None:
        """Add 8 kHz int16 audio (normally one 20 ms frame); returns a changed partial or None."""
        pcm8k = np.asarray(pcm8k, dtype=np.int16)
        self._fed_samples += len(pcm8k)
        return self.recognizer.feed(self._resampler.process(pcm8k))

    def feed_ulaw(self, frame: bytes) -> str | None:
        """Add μ-law bytes at 8 kHz (a 160-byte telephone frame)."""
        return self.feed(ulaw_decode(frame))

    def end_utterance(self) -> Transcript:
        self.recognizer.feed(self._resampler.flush())
        transcript = self.recognizer.end_utterance()
        duration_ms = 1000.0 * self._fed_samples / SAMPLE_RATE
        words = tuple(
            replace(
                word,
                start_ms=min(max(0.0, word.start_ms - self._delay_ms), duration_ms),
                end_ms=min(max(0.0, word.end_ms - self._delay_ms), duration_ms),
            )
            for word in transcript.words
        )
        return replace(transcript, words=words)
