"""espeak-ng speech through the shared library that `espeakng-loader` ships, driven with ctypes.

The engine is process-global, not thread-safe, and its synthesis callback runs synchronously on
the thread that calls `espeak_Synth`. So every engine call runs on one dedicated worker thread
(a single-worker executor) under a lock, and `EspeakSynthesizer.stream` is a generator fed by a
queue that the callback fills as espeak produces audio (~59 ms chunks at 22 050 Hz). Closing the
generator early (barge-in) makes the callback ask espeak to stop.

espeak-ng output is not bit-for-bit repeatable: the same text can differ by a few milliseconds
from one call to the next (engine state carried between utterances), so compare durations
with a tolerance.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.speech.tts import UnknownVoiceError, require_text

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050
DEFAULT_RATE_WPM = 175
RATE_RANGE_WPM = (80, 450)
DEFAULT_PITCH = 50
PITCH_RANGE = (0, 100)
ABANDONED_AFTER_S = 30.0

# From espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_ESPEAK_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class _VoiceStruct(ctypes.Structure):
    """`espeak_VOICE`; `languages` is a run of (priority byte, NUL-terminated name), ended by 0."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


def _languages(address: int | None) -> list[str]:
    names = []
    while address and ctypes.c_ubyte.from_address(address).value != 0:
        name = ctypes.string_at(address + 1)
        names.append(name.decode("utf-8", "replace").lower())
        address += 2 + len(name)
    return names


class _Job:
    """One synthesis request: the callback pushes chunks into `chunks`; None marks the end."""

    def __init__(self, text: str, max_buffered_chunks: int | None) -> None:
        self.text = text
        self.chunks: queue.Queue[np.ndarray | None | BaseException] = queue.Queue(
            maxsize=max_buffered_chunks or 0
        )
        self.cancelled = threading.Event()
        self.done = threading.Event()

    def put(self, item: np.ndarray | None | BaseException) -> bool:
        """Queue an item, waiting for room if the queue is bounded; False once cancelled, or
        when the consumer has taken nothing for `ABANDONED_AFTER_S` (the engine must not wait
        forever on a stream nobody reads)."""
        deadline = time.monotonic() + ABANDONED_AFTER_S
        while not self.cancelled.is_set():
            try:
                self.chunks.put(item, timeout=0.05)
                return True
            except queue.Full:
                if time.monotonic() > deadline:
                    logger.warning("espeak stream abandoned by its reader; stopping synthesis")
                    self.cancelled.set()
        return False


class _Engine:
    """The one espeak-ng instance of the process, used only from its worker thread."""

    def __init__(self) -> None:
        import espeakng_loader

        self.data_path = Path(espeakng_loader.get_data_path())
        # RTLD_LOCAL (the default) keeps these symbols apart from piper's own bundled espeak.
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.c_void_p]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_VoiceStruct))
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, str(self.data_path).encode(), 0)
        if rate != SAMPLE_RATE:
            raise RuntimeError(f"espeak-ng initialisation failed (returned {rate})")
        self.lib = lib
        self.job: _Job | None = None
        self._callback = _CALLBACK(self._on_audio)  # kept referenced: espeak holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.current_voice: str | None = None
        self.voice_ids = self._voice_ids()

    def _voice_ids(self) -> dict[str, str]:
        """Lower-case language codes, file names and voice names → espeak voice identifier.

        `espeak_SetVoiceByName` matches names and identifiers but not language codes such as
        `en-gb` (whose file is `gmw/en`), so names are resolved here first.
        """
        voices = self.lib.espeak_ListVoices(None)
        entries = []
        i = 0
        while voices[i]:
            voice = voices[i].contents
            entries.append(
                (voice.identifier.decode(), voice.name.decode(), _languages(voice.languages))
            )
            i += 1
        ids: dict[str, str] = {}
        for identifier, _name, languages in entries:  # primary language first
            if languages:
                ids.setdefault(languages[0], identifier)
        for identifier, name, _ in entries:
            ids.setdefault(identifier.rsplit("/", 1)[-1].lower(), identifier)
            ids.setdefault(identifier.lower(), identifier)
            ids.setdefault(name.lower(), identifier)
        return ids

    def resolve(self, voice: str) -> str | None:
        """`en-gb+f3` → `gmw/en+f3` (the form espeak accepts), or None if there is no such voice."""
        base, plus, variant = voice.partition("+")
        identifier = self.voice_ids.get(base.lower())
        return None if identifier is None else identifier + plus + variant

    def _on_audio(self, wav: Any, num_samples: int, _events: int) -> int:
        job = self.job
        if job is None or job.cancelled.is_set():
            return 1  # ask espeak to stop
        if num_samples > 0 and wav:
            chunk = np.ctypeslib.as_array(wav, shape=(num_samples,)).astype(np.int16, copy=True)
            if not job.put(chunk):
                return 1
        return 0

    def set_voice(self, voice: str) -> bool:
        if voice == self.current_voice:
            return True
        resolved = self.resolve(voice)
        ok = resolved is not None and self.lib.espeak_SetVoiceByName(resolved.encode()) == _EE_OK
        self.current_voice = voice if ok else None
        return ok

    def synthesize(self, job: _Job, voice: str, rate_wpm: int, pitch: int) -> None:
        try:
            if not self.set_voice(voice):
                raise ConfigError(f"espeak-ng has no voice {voice!r}")
            # Set every time: the engine is shared by synthesizers with different settings.
            self.lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
            data = job.text.encode("utf-8") + b"\0"
            self.job = job
            try:
                self.lib.espeak_Synth(
                    data, len(data), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None
                )
            finally:
                self.job = None
        except BaseException as error:  # handed to the consumer, which re-raises it
            job.put(error)
        else:
            job.put(None)
        finally:
            job.done.set()


_engine: _Engine | None = None
_engine_lock = threading.Lock()  # guards engine creation and every synthesis
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="espeak")


def _engine_instance() -> _Engine:
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def _run_on_engine(job: _Job, voice: str, rate_wpm: int, pitch: int) -> None:
    with _engine_lock:
        _engine_instance().synthesize(job, voice, rate_wpm, pitch)


def _voice_exists(voice: str) -> bool:
    def check() -> bool:
        with _engine_lock:
            return _engine_instance().set_voice(voice)

    return _executor.submit(check).result()


@functools.cache
def espeak_variants() -> list[str]:
    """Names of the voice variants (`+f3`, `+m3`, ...) in the bundled espeak-ng data."""
    import espeakng_loader

    variants = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
    return sorted(p.name for p in variants.iterdir() if p.is_file())


class EspeakStream(Iterator[np.ndarray]):
    """The audio of one `stream()` call; `synthesis_done` tells whether espeak has finished."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self._finished = False

    @property
    def synthesis_done(self) -> bool:
        return self._job.done.is_set()

    def __iter__(self) -> EspeakStream:
        return self

    def __next__(self) -> np.ndarray:
        if self._finished:
            raise StopIteration
        item = self._job.chunks.get()
        if item is None:
            self._finished = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._finished = True
            raise item
        return item

    def close(self) -> None:
        """Stop early: espeak is told to abort at its next callback."""
        self._finished = True
        self._job.cancelled.set()

    def __del__(self) -> None:
        self._job.cancelled.set()


class EspeakSynthesizer:
    """A `Synthesizer` speaking with one espeak-ng voice (e.g. `en-us`, `en-us+f3`).

    `max_buffered_chunks` bounds how far synthesis may run ahead of the consumer; the default
    (None) lets espeak finish at full speed, so the engine is free again within milliseconds.
    """

    name = "espeak"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        espeak_voice: str,
        *,
        rate_wpm: int | None = None,
        pitch: int | None = None,
        max_buffered_chunks: int | None = None,
    ) -> None:
        rate_wpm = DEFAULT_RATE_WPM if rate_wpm is None else rate_wpm
        pitch = DEFAULT_PITCH if pitch is None else pitch
        if not RATE_RANGE_WPM[0] <= rate_wpm <= RATE_RANGE_WPM[1]:
            raise ConfigError(
                f"rate {rate_wpm} wpm is out of range for espeak "
                f"({RATE_RANGE_WPM[0]}-{RATE_RANGE_WPM[1]})"
            )
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            raise ConfigError(f"pitch {pitch} is out of range ({PITCH_RANGE[0]}-{PITCH_RANGE[1]})")
        base, _, variant = espeak_voice.partition("+")
        if variant and variant not in espeak_variants():
            raise UnknownVoiceError(f"espeak-ng has no voice variant {variant!r}")
        if not base or not _voice_exists(espeak_voice):
            raise UnknownVoiceError(f"espeak-ng has no voice {espeak_voice!r}")
        self.espeak_voice = espeak_voice
        self.voice = f"espeak:{espeak_voice}"
        self.rate_wpm = rate_wpm
        self.pitch = pitch
        self.max_buffered_chunks = max_buffered_chunks

    def warm_up(self) -> None:
        """Nothing to load: the engine started when the voice was checked."""

    def stream(self, text: str) -> EspeakStream:
        """Int16 chunks at 22 050 Hz, each available as soon as espeak produces it."""
        job = _Job(require_text(text), self.max_buffered_chunks)
        _executor.submit(_run_on_engine, job, self.espeak_voice, self.rate_wpm, self.pitch)
        return EspeakStream(job)

    def __repr__(self) -> str:
        return f"EspeakSynthesizer({self.espeak_voice!r}, rate_wpm={self.rate_wpm}, pitch={self.pitch})"
