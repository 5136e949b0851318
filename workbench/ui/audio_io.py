"""Microphone and speaker for the softphone, through sounddevice (PortAudio), when present.

The machine may have no sound card, or no PortAudio at all: `probe_devices()` says which, once,
and the softphone falls back to typed lines and WAV files. PortAudio callbacks only copy the
block and hand it off (a `queue.SimpleQueue` put); a pump thread does the resampling to 8 kHz,
the 20 ms framing and the level metering, off the audio thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

FRAME_SAMPLES = 160  # 20 ms at 8 kHz (workbench.audio.frames imports scipy; keep startup light)

log = logging.getLogger(__name__)

TELEPHONE_RATE = 8000


@dataclass(frozen=True)
class AudioDevices:
    """What audio the machine offers: (index, name) pairs, or why there is none."""

    inputs: tuple[tuple[int, str], ...] = ()
    outputs: tuple[tuple[int, str], ...] = ()
    problem: str = ""
    default_input: int | None = None
    default_output: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return not self.problem and bool(self.inputs or self.outputs)


def probe_devices() -> AudioDevices:
    """List audio devices; never raises (a missing PortAudio or sound card is a `problem`)."""
    try:
        import sounddevice as sd
    except (ImportError, OSError) as error:  # OSError: "PortAudio library not found"
        return AudioDevices(problem=f"no audio devices: sounddevice unavailable ({error})")
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except Exception as error:  # PortAudio raises its own error types on a broken host
        return AudioDevices(problem=f"no audio devices: {error}")
    inputs = tuple((i, d["name"]) for i, d in enumerate(devices) if d["max_input_channels"] > 0)
    outputs = tuple((i, d["name"]) for i, d in enumerate(devices) if d["max_output_channels"] > 0)
    if not inputs and not outputs:
        return AudioDevices(problem="no audio devices found")
    return AudioDevices(
        inputs,
        outputs,
        default_input=default_in if default_in is not None and default_in >= 0 else None,
        default_output=default_out if default_out is not None and default_out >= 0 else None,
    )


def level_dbfs(pcm: np.ndarray) -> float:
    """RMS level of int16 audio in dBFS (-90 for silence)."""
    if pcm.size == 0:
        return -90.0
    rms = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) / 32768.0
    return max(-90.0, 20.0 * float(np.log10(rms))) if rms > 0 else -90.0


class SampleRing:
    """A fixed-size ring of int16 samples: one writer (the pump), one reader (the callback).

    `read_into(out)` copies what is buffered into `out` and zero-fills the rest (an underrun
    plays silence); `write` drops the oldest samples when the ring is full. No allocation on
    the read side, so it is safe to call from a PortAudio callback.
    """

    def __init__(self, capacity: int) -> None:
        self._data = np.zeros(capacity, dtype=np.int16)
        self._capacity = capacity
        self._read = 0  # total samples read (only the reader moves it)
        self._written = 0  # total samples written (only the writer moves it)
        self.underruns = 0

    @property
    def available(self) -> int:
        return self._written - self._read

    def write(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.int16)[-self._capacity :]
        start = self._written % self._capacity
        first = min(len(samples), self._capacity - start)
        self._data[start : start + first] = samples[:first]
        self._data[: len(samples) - first] = samples[first:]
        self._written += len(samples)
        overflow = self._written - self._read - self._capacity
        if overflow > 0:  # the reader fell behind: skip what was overwritten
            self._read += overflow

    def read_into(self, out: np.ndarray) -> int:
        """Fill `out` (1-D int16 view); returns how many samples came from the ring."""
        n = min(len(out), self.available)
        start = self._read % self._capacity
        first = min(n, self._capacity - start)
        out[:first] = self._data[start : start + first]
        out[first:n] = self._data[: n - first]
        out[n:] = 0
        self._read += n
        if n < len(out):
            self.underruns += 1
        return n


class SoundcardAudio:
    """Microphone into an `InteractiveCaller`, what the caller hears out to the speaker."""

    def __init__(
        self,
        input_device: int | None,
        output_device: int | None,
        on_mic_level: Callable[[float], None],
    ) -> None:
        self.input_device = input_device
        self.output_device = output_device
        self._on_mic_level = on_mic_level
        self._captured: queue.SimpleQueue = queue.SimpleQueue()
        self._heard: queue.SimpleQueue = queue.SimpleQueue()
        self._playback = SampleRing(48000 * 2)  # two seconds at the highest usual rate
        self._streams: list[Any] = []
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()
        self.overflows = 0
        self.caller: Any = None

    def start(self, caller: Any) -> None:
        import sounddevice as sd

        from workbench.audio.resample import StreamingResampler

        self.caller = caller
        if self.input_device is not None:
            rate = int(sd.query_devices(self.input_device)["default_samplerate"])
            self._mic_resampler = StreamingResampler(rate, TELEPHONE_RATE)
            stream = sd.InputStream(
                device=self.input_device,
                channels=1,
                samplerate=rate,
                dtype="int16",
                callback=self._mic_callback,
            )
            stream.start()
            self._streams.append(stream)
        if self.output_device is not None:
            rate = int(sd.query_devices(self.output_device)["default_samplerate"])
            self._speaker_resampler = StreamingResampler(TELEPHONE_RATE, rate)
            stream = sd.OutputStream(
                device=self.output_device,
                channels=1,
                samplerate=rate,
                dtype="int16",
                callback=self._speaker_callback,
            )
            stream.start()
            self._streams.append(stream)
        self._stop.clear()
        self._pump = threading.Thread(target=self._run_pump, name="audio-pump", daemon=True)
        self._pump.start()

    def hear(self, pcm8k: np.ndarray) -> None:
        """Agent audio the caller hears (driver thread): hand off to the pump."""
        self._heard.put(pcm8k.copy())

    def stop(self) -> None:
        self._stop.set()
        for stream in self._streams:
            stream.stop()
            stream.close()
        self._streams.clear()
        if self._pump is not None:
            self._pump.join(timeout=2.0)
            self._pump = None

    # PortAudio threads: copy and hand off, nothing else -------------------------------
    def _mic_callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        if status:
            self.overflows += 1
        self._captured.put(indata[:, 0].copy())

    def _speaker_callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self._playback.read_into(outdata[:, 0])

    # pump thread ------------------------------------------------------------------------
    def _run_pump(self) -> None:
        pending = np.zeros(0, dtype=np.int16)
        while not self._stop.is_set():
            try:
                block = self._captured.get(timeout=0.02)
            except queue.Empty:
                block = None
            if block is not None:
                pending = np.concatenate([pending, self._mic_resampler.process(block)])
                while len(pending) >= FRAME_SAMPLES:
                    frame, pending = pending[:FRAME_SAMPLES], pending[FRAME_SAMPLES:]
                    self.caller.push_microphone(frame)
                    self._on_mic_level(level_dbfs(frame))
            while True:
                try:
                    heard = self._heard.get_nowait()
                except queue.Empty:
                    break
                if self.output_device is not None:
                    self._playback.write(self._speaker_resampler.process(heard))
