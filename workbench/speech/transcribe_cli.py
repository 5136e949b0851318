"""`workbench transcribe`: recognise a WAV file by streaming it to the recogniser in 20 ms frames.

The file is transcribed as given (no telephone round trip): it is resampled to 16 kHz with the
same streaming resampler the live path uses and fed frame by frame, as a call would feed it.
Like a call, where the line is quiet before and after the caller speaks, the recogniser hears
300 ms of silence before and after the file (speech that starts at the file's first sample
otherwise tends to lose its first word); word times are given relative to the file.

It listens with an ear (`ears.py`): `accurate` by default (pocketsphinx streaming, then a
Whisper final pass over the whole file), or `fast`; `--backend` names one recogniser alone
instead. With `--agent`, both passes learn the agent's vocabulary: its domain language model,
its lexicon's spoken forms and its names.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from workbench.audio.frames import FRAME_MS, STT_SAMPLE_RATE
from workbench.audio.wav import read_wav
from workbench.errors import ConfigError, InputFileError
from workbench.speech.ears import TwoPassRecognizer, check_ear, load_ear
from workbench.speech.stt import BACKENDS, load_recognizer, set_input_band

logger = logging.getLogger(__name__)

SILENCE_PAD_MS = 300


class _PassThrough:
    """Stands in for the resampler when the file is already at 16 kHz."""

    delay_samples = 0

    def process(self, chunk: np.ndarray) -> np.ndarray:
        return chunk

    def flush(self) -> np.ndarray:
        return np.zeros(0, dtype=np.int16)


def read_sentences(path: Path) -> list[str]:
    """A plain list of sentences, one a line; blank lines and `#` comments are skipped."""
    if not path.is_file():
        raise InputFileError(f"{path}: no such sentence file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot read the sentence file ({error})") from None
    sentences = [line.strip() for line in text.splitlines()]
    sentences = [s for s in sentences if s and not s.startswith("#")]
    if not sentences:
        raise InputFileError(f"{path}: the sentence file holds no sentences")
    return sentences


@dataclass(frozen=True)
class AgentWords:
    """What an agent teaches the ears: LM sentences, how its words are said, its names."""

    sentences: list[str]
    spoken_forms: dict[str, str]
    vocabulary: list[str]


def agent_words(agent_dir: Path) -> AgentWords:
    """The words of the agent in `agent_dir` (ConfigError if agents are not built)."""
    if importlib.util.find_spec("workbench.agent.agent") is None:
        raise ConfigError("agents are not available yet")
    from workbench import agent as agent_package
    from workbench.speech.lexicon import Lexicon

    load_agent = getattr(agent_package, "load_agent", None)
    if load_agent is None:
        raise ConfigError("agents are not available yet")
    agent = load_agent(agent_dir)
    lexicon = Lexicon.load(agent.lexicon_path) if agent.lexicon_path else Lexicon({})
    return AgentWords(
        list(agent.domain_sentences()), lexicon.spoken_forms(), list(agent.vocabulary())
    )


def agent_domain_sentences(agent_dir: Path) -> list[str]:
    """The domain sentences of the agent in `agent_dir`."""
    return agent_words(agent_dir).sentences


def run_transcribe(
    audio_path: Path,
    *,
    agent: Path | None = None,
    lm_sentences: Path | None = None,
    backend: str | None = None,
    ear: str = "accurate",
) -> dict:
    """Transcribe one WAV file; returns text, words with times, final delay and confidence.

    `final_after_end_ms` is the wall time from feeding the last frame to having the final
    transcript (what a caller would wait for after the recogniser hears the end of speech).
    """
    if backend is not None and backend not in BACKENDS:
        raise ConfigError(f"unknown STT backend {backend!r} (choose one of: {', '.join(BACKENDS)})")
    check_ear(ear)
    if agent is not None and lm_sentences is not None:
        raise ConfigError("give either --agent or --lm-sentences, not both")
    audio = read_wav(audio_path)  # the file is checked before the slow model load
    words_of = AgentWords([], {}, [])
    if lm_sentences is not None:
        words_of = AgentWords(read_sentences(Path(lm_sentences)), {}, [])
    elif agent is not None:
        words_of = agent_words(Path(agent))
    sentences = words_of.sentences or None

    from workbench.audio.resample import StreamingResampler  # slow import: after the checks

    if backend is not None:
        recognizer = load_recognizer(
            backend,
            domain_sentences=sentences,
            spoken_forms=words_of.spoken_forms,
            vocabulary=words_of.vocabulary,
        )
    else:
        recognizer = load_ear(
            ear,
            domain_sentences=sentences,
            spoken_forms=words_of.spoken_forms,
            vocabulary=words_of.vocabulary,
            word_times=True,
        )
    # Below 16 kHz the file holds no energy above half its rate: telephone-band speech.
    set_input_band(recognizer, "telephone" if audio.sample_rate < 16000 else "wideband")
    frame = round(audio.sample_rate * FRAME_MS / 1000)  # 11.025/22.05 kHz: within 0.03 ms
    resampler = (
        StreamingResampler(audio.sample_rate, STT_SAMPLE_RATE)
        if audio.sample_rate != STT_SAMPLE_RATE
        else _PassThrough()
    )
    recognizer.begin_utterance()
    pad = np.zeros(audio.sample_rate * SILENCE_PAD_MS // 1000, dtype=np.int16)
    samples = np.concatenate([pad, audio.samples, pad])
    for start in range(0, len(samples), frame):
        recognizer.feed(resampler.process(samples[start : start + frame]))
    started = time.perf_counter()
    recognizer.feed(resampler.flush())
    transcript = recognizer.end_utterance()
    final_after_end_ms = 1000.0 * (time.perf_counter() - started)

    # The lead-in and the resampler's causal delay shift the stream; report times in the file's.
    delay_ms = 1000.0 * resampler.delay_samples / STT_SAMPLE_RATE + SILENCE_PAD_MS
    duration_ms = 1000.0 * audio.duration_s
    words = [
        {
            "word": word.word,
            "start_ms": round(min(max(0.0, word.start_ms - delay_ms), duration_ms), 1),
            "end_ms": round(min(max(0.0, word.end_ms - delay_ms), duration_ms), 1),
        }
        for word in transcript.words
    ]
    result = {
        "text": transcript.text,
        "words": words,
        "final_after_end_ms": round(final_after_end_ms, 2),
        "confidence": round(transcript.confidence, 4),
        "ear": ear if backend is None else None,
        "backend": backend,
    }
    if isinstance(recognizer, TwoPassRecognizer):
        result["streaming_text"] = recognizer.streaming_text
    return result
