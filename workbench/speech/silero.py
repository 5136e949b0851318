"""Voice onset for barge-in: Silero VAD's ONNX model, run with onnxruntime, on telephone frames.

webrtcvad (`vad.py`) answers "is this frame voiced-ish?" and so also answers yes to babble,
hum and a cough; Silero is a small recurrent network trained to tell speech from everything
else, which is what a barge-in detector needs: stop the agent for the caller's voice, not for
the caller's room.

The model is the one faster-whisper ships (`faster_whisper/assets/silero_vad_v6.onnx`, already
installed for the accurate ear); it is loaded from the installed wheel, never downloaded. Its
signature is faster-whisper's batched export of Silero v6: `input` float32 [n, 576] (a 512-sample
window at 16 kHz after the previous window's last 64 samples, its context), the LSTM state `h`,
`c` [1, 1, 128], and out `speech_probs` [n, 1], `hn`, `cn`. It has no `sr` input: it runs at
16 kHz only, so the 8 kHz telephone frames are upsampled first (`StreamingResampler`, its lag
removed so times stay the caller's). The `silero-vad` wheel's own model (inputs `input`,
`state`, `sr`) is not installed here: its Python package imports torch.

Windows are 32 ms and frames 20 ms, so a frame completes a window roughly every other frame and
a frame's verdict is that of the latest complete window. The events and their times follow
`VoiceActivityDetector`: `VadSpeechStart.t_ms` is the start of the first speech window of the run
that confirmed it (the confirmation delay is `confirmed_at - t_ms`), `VadSpeechEnd.t_ms` the end
of the last speech window. Hysteresis as in Silero's own `get_speech_timestamps`: a window is
speech from `threshold` up, and stays speech while above `threshold - 0.15` once a run has begun.

The model is run only where its verdict can matter: a window the energy gate (below) would
refuse as the start of a run is judged not speech without it, and the next window that could
start one first warms a fresh state on the line's last 320 ms. On a quiet line it never runs;
each run also lets go of the GIL, which a server ticking many calls on one thread pays for.

One `onnxruntime.InferenceSession` per model file serves every detector in the process (a call
holds only its LSTM state and context); `run` is thread-safe, and each run uses one thread so a
call's frames never spread across the cores the other calls need.
"""

from __future__ import annotations

import functools
import importlib.util
import statistics
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from workbench.audio.frames import rms
from workbench.audio.heard import AUDIBLE_THRESHOLD
from workbench.audio.resample import StreamingResampler
from workbench.errors import ConfigError
from workbench.speech.vad import SpeechRuns, VadSpeechEnd, VadSpeechStart

MODEL_RATE = 16000
WINDOW = 512  # samples at 16 kHz: 32 ms
CONTEXT = 64  # samples of the previous window the model sees before each window
WINDOW_MS = 1000.0 * WINDOW / MODEL_RATE
STATE_SHAPE = (1, 1, 128)
FLOOR_WINDOWS = 47  # 1.5 s of window levels behind the noise floor
MIN_FLOOR_WINDOWS = 7  # the floor is trusted after ~200 ms
WARMUP_WINDOWS = 10  # 320 ms of the line replayed into a fresh state when the model resumes
_AUDIBLE = AUDIBLE_THRESHOLD / 32768.0  # the model's float scale
_MODEL_IN_WHEEL = ("faster_whisper", Path("assets") / "silero_vad_v6.onnx")
_EXPECTED_INPUTS = ("input", "h", "c")


def default_model_path() -> Path:
    """The Silero model inside the installed faster-whisper wheel (found without importing it:
    faster-whisper's import pulls in ctranslate2, which a VAD does not need)."""
    package, relative = _MODEL_IN_WHEEL
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the Silero VAD model ships in the faster-whisper wheel, which is not installed "
            "(pip install faster-whisper)"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / relative
        if path.is_file():
            return path
    raise ConfigError(f"faster-whisper is installed but has no {relative} (version too old?)")


@functools.lru_cache(maxsize=4)
def load_model(path: Path | None = None):  # -> onnxruntime.InferenceSession
    """The ONNX session for the model at `path` (default: the wheel's), shared by all callers."""
    import onnxruntime

    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ConfigError(f"Silero VAD model not found: {path}")
    options = onnxruntime.SessionOptions()
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4  # its warnings about unused initialisers are noise
    session = onnxruntime.InferenceSession(
        str(path), providers=["CPUExecutionProvider"], sess_options=options
    )
    names = tuple(i.name for i in session.get_inputs())
    if names != _EXPECTED_INPUTS:
        raise ConfigError(
            f"{path}: expected a Silero model with inputs {_EXPECTED_INPUTS} "
            f"(faster-whisper's export), got {names}"
        )
    return session


class SileroVoiceDetector:
    """Speech start and end events from Silero's per-window speech probability.

    Same use as `VoiceActivityDetector`: `process(frame_pcm, t_ms)` once per frame, in order,
    with `t_ms` the time of the frame's first sample. `threshold`: the probability from which a
    window is speech (`neg_threshold`, default `threshold - 0.15`, is where a run ends).
    `start_ms`: how much consecutive speech (in whole 32 ms windows) confirms a start; `stop_ms`:
    how much consecutive non-speech confirms an end. Frames are 8 or 16 kHz int16, any length
    (a decoded μ-law frame is 160 samples at 8 kHz).

    The defaults are the ones `bench vad` chose on its tuning split for barge-in (fewest
    false and early fires and misses, then the lowest p90 onset; Silero's own default
    threshold is 0.5).

    `noise_margin`: an energy gate for a start (None: no gate). Silero hears the voices in
    office babble as speech (they are), at any level; the caller is the voice that stands
    above the room. With a margin, a window can begin a run only if its RMS is at least
    `noise_margin` times the line's floor: the median level of the last 1.5 s of windows heard
    outside speech (nothing starts before 200 ms of floor is measured). A run once begun is
    not gated.
    """

    def __init__(
        self,
        threshold: float = 0.7,
        start_ms: float = 32.0,
        stop_ms: float = 200.0,
        sample_rate: int = 8000,
        neg_threshold: float | None = None,
        model_path: Path | None = None,
        *,
        noise_margin: float | None = 4.5,
    ) -> None:
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"Silero VAD threshold must be between 0 and 1, got {threshold}")
        if sample_rate not in (8000, MODEL_RATE):
            raise ConfigError(f"Silero VAD takes 8000 or 16000 Hz audio, got {sample_rate}")
        if start_ms < 0 or stop_ms < 0:
            raise ConfigError(f"VAD start_ms/stop_ms must be >= 0, got {start_ms}/{stop_ms}")
        self.threshold = float(threshold)
        self.neg_threshold = (
            max(0.01, threshold - 0.15) if neg_threshold is None else float(neg_threshold)
        )
        self.start_ms = float(start_ms)
        self.stop_ms = float(stop_ms)
        self.sample_rate = sample_rate
        if noise_margin is not None and noise_margin <= 0:
            raise ConfigError(f"Silero VAD noise_margin must be > 0, got {noise_margin}")
        self.noise_margin = noise_margin
        self._session = load_model(model_path)
        self.reset()

    def reset(self) -> None:
        """Forget all state: the next frame starts a new stream in silence."""
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._input = np.zeros((1, CONTEXT + WINDOW), dtype=np.float32)  # context, then window
        self._pending = np.zeros(0, dtype=np.float32)  # 16 kHz samples not yet in a window
        self._upsampler = (
            StreamingResampler(8000, MODEL_RATE) if self.sample_rate != MODEL_RATE else None
        )
        self._to_skip = self._upsampler.delay_samples if self._upsampler is not None else 0
        self._origin_ms: float | None = None  # stream time of the first sample
        self._windows = 0  # windows run so far
        self.probability = 0.0  # the latest window's
        self._window_speech = False  # the latest window's verdict, with hysteresis
        self._runs = SpeechRuns(self.start_ms, self.stop_ms)
        self._last_frame: np.ndarray | None = None
        self._levels: deque[float] = deque(maxlen=FLOOR_WINDOWS)
        self._recent: deque[np.ndarray] = deque(maxlen=WARMUP_WINDOWS)  # windows `idle` kept
        self._cold = False  # `idle` skipped the model: warm it up on `_recent` first

    @property
    def is_speech(self) -> bool:
        """True between a confirmed start and its confirmed end."""
        return self._runs.in_speech

    def frame_is_speech(self, frame_pcm: np.ndarray) -> bool:
        """The verdict for the frame last given to `process` (the latest window's, with the
        two-threshold hysteresis). Unlike webrtcvad's, it depends on the stream so far, so it
        is only defined for that frame."""
        if self._last_frame is None or not (
            frame_pcm is self._last_frame or np.array_equal(frame_pcm, self._last_frame)
        ):
            raise ValueError("Silero's verdict depends on the stream: process() the frame first")
        return self._window_speech

    def process(self, frame_pcm: np.ndarray, t_ms: float) -> VadSpeechStart | VadSpeechEnd | None:
        """Take one frame whose first sample is at `t_ms`; return an event when one is confirmed."""
        event: VadSpeechStart | VadSpeechEnd | None = None
        for window in self._windows_of(frame_pcm, t_ms):
            new = self._run_window(window)
            event = new or event  # at most one window per 20 ms frame confirms anything
        return event

    def idle(self, frame_pcm: np.ndarray, t_ms: float, *, speech: bool) -> None:
        """Take a frame nobody needs a verdict on (the agent is quiet: there is no barge-in to
        detect) without running the model, which is most of a call's cost per frame (~0.3 ms).

        The line's noise floor still learns the frame's level unless `speech` (the caller's
        voice, by another detector) says it is no floor; the stream's clock goes on, and the
        last `WARMUP_WINDOWS` are kept: the next `process` first replays them into a fresh
        state, so the model hears the line's last 320 ms as if it had run all along."""
        for window in self._windows_of(frame_pcm, t_ms):
            if self.noise_margin is not None and not speech:
                self._levels.append(rms(window))
            self._skip(window)

    def _skip(self, window: np.ndarray) -> VadSpeechStart | VadSpeechEnd | None:
        """A window judged not speech without the model: kept for the next warm-up."""
        self._recent.append(window)
        start = self._origin_ms + self._windows * WINDOW_MS  # type: ignore[operator]
        self._windows += 1
        self.probability = 0.0
        self._window_speech = False
        self._cold = True
        return self._runs.step(False, start, WINDOW_MS)

    def _windows_of(self, frame_pcm: np.ndarray, t_ms: float) -> Iterator[np.ndarray]:
        """The frame's audio at the model's rate, as the whole windows it completes."""
        pcm = np.asarray(frame_pcm)
        self._last_frame = pcm
        if self._origin_ms is None:
            self._origin_ms = float(t_ms)
        samples = self._to_model_rate(pcm)
        self._pending = np.concatenate((self._pending, samples)) if self._pending.size else samples
        while self._pending.size >= WINDOW:
            window, self._pending = self._pending[:WINDOW], self._pending[WINDOW:]
            yield window

    def _warm_up(self) -> None:
        """Resume the model after windows it skipped: a fresh state fed the line's last few
        windows, in one run (the model's first dimension is time, so this is the same state as
        running them one by one)."""
        batch = np.zeros((len(self._recent), CONTEXT + WINDOW), dtype=np.float32)
        context = np.zeros(CONTEXT, dtype=np.float32)
        for row, window in zip(batch, self._recent, strict=True):
            row[:CONTEXT], row[CONTEXT:] = context, window
            context = window[-CONTEXT:]
        zeros = np.zeros(STATE_SHAPE, dtype=np.float32)
        if len(batch):
            _, self._h, self._c = self._session.run(None, {"input": batch, "h": zeros, "c": zeros})
        else:
            self._h, self._c = zeros, zeros.copy()
        self._input[0, :CONTEXT] = context
        self._recent.clear()
        self._cold = False

    def _to_model_rate(self, pcm: np.ndarray) -> np.ndarray:
        audio = pcm.astype(np.float32) / 32768.0
        if self._upsampler is None:
            return audio
        up = self._upsampler.process(audio)
        if self._to_skip:
            # The filter's lag, dropped once, so window k starts at exactly k * 32 ms.
            skip = min(self._to_skip, len(up))
            up, self._to_skip = up[skip:], self._to_skip - skip
        return np.asarray(up, dtype=np.float32)

    def _run_window(self, window: np.ndarray) -> VadSpeechStart | VadSpeechEnd | None:
        gated = self.noise_margin is not None and not self._runs.in_speech
        level = rms(window) if gated else 0.0
        if gated and self._runs.run_start_ms is None and not self._may_start(level, window):
            # The gate below would refuse a start whatever the model said, so the model is not
            # run: on a line where the caller is quiet it never is. (Each run also lets go of
            # the GIL, and on a server with many calls getting it back costs milliseconds.)
            self._levels.append(level)
            return self._skip(window)
        if self._cold:
            self._warm_up()
        self._input[0, CONTEXT:] = window
        probs, self._h, self._c = self._session.run(
            None, {"input": self._input, "h": self._h, "c": self._c}
        )
        self._input[0, :CONTEXT] = window[-CONTEXT:]
        self._recent.append(window)
        self.probability = float(probs.reshape(-1)[0])
        start = self._origin_ms + self._windows * WINDOW_MS  # type: ignore[operator]
        self._windows += 1
        cut = self.neg_threshold if self._window_speech else self.threshold
        speech = self.probability >= cut
        if gated:
            if speech and self._runs.run_start_ms is None:
                speech = self._may_start(level, window)
            self._levels.append(level)
        self._window_speech = speech
        return self._runs.step(speech, start, WINDOW_MS)

    def _may_start(self, level: float, window: np.ndarray) -> bool:
        """The energy gate: a window may begin a run only if it is audible and well above the
        line's noise floor (on a digitally silent line the floor is 0, and only audibility
        gates)."""
        return (
            len(self._levels) >= MIN_FLOOR_WINDOWS
            and level >= self.noise_margin * statistics.median(self._levels)  # type: ignore[operator]
            and float(np.abs(window).max()) > _AUDIBLE
        )
