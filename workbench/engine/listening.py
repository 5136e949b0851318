"""Listening: each caller frame decoded, judged speech or not once, and the utterance it is in.

Apart from the session because it is the per-frame hot path and owns state nothing else writes:
the voice activity detector with its hysteresis, the "pause" mode's onset detector, the line's
noise floor, the pre-roll kept before an utterance is confirmed, and the utterance's own
counters (its start, its speech so far, its last speech frame, the recogniser's partial).

`hear` makes the frame's one speech decision (`IncomingFrame.speech`); everything after it in the
session reads that decision. (webrtcvad is still asked twice about most frames: once inside
the detector's hysteresis and once for the noise-gated verdict. Its state adapts on each call,
so asking once would change which frames are speech: see `hear`.)
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_MS, rms
from workbench.audio.resample import StreamingResampler
from workbench.speech.vad import VadSpeechEnd, VadSpeechStart

if TYPE_CHECKING:
    from workbench.engine.session import SessionSettings

TAIL_RATIO = 0.1  # a speech frame quieter than this share of the recent peak is a fading tail
NOISE_MARGIN = 4.5  # speech must stand this far (13 dB) above the line's noise floor (median)
NOISE_WINDOW_FRAMES = 75  # 1.5 s of frame levels behind the noise floor
NOISE_FLOOR_MIN_FRAMES = 25  # the floor is trusted after 500 ms of line audio


class IncomingFrame(NamedTuple):
    """One caller frame as the session hears it (a tuple: one is made per frame of every call)."""

    t_ms: float  # the frame's end: it is whole when it reaches the agent
    pcm16k: np.ndarray  # its audio for the recognisers
    vad_event: VadSpeechStart | VadSpeechEnd | None  # a start or end the VAD confirmed
    speech: bool  # the frame's verdict: a voice above the line's noise, not a fading tail


class Listening:
    """The caller's side of the line, frame by frame (one per session)."""

    def __init__(self, speech: Any, settings: SessionSettings) -> None:
        self.vad = speech.new_vad(
            aggressiveness=settings.vad_aggressiveness, start_ms=settings.vad_start_ms
        )
        # "pause" mode's voice onset detector (None in "judge" mode: its words decide)
        pausing = settings.interruption == "pause" and settings.barge_in
        self.onset = speech.new_onset_detector() if pausing else None
        self.upsampler = StreamingResampler(8000, 16000)
        self._upsampling_lag_ms = 1000.0 * self.upsampler.delay_samples / 16000
        self.preroll: deque[np.ndarray] = deque(maxlen=max(1, int(settings.preroll_ms // FRAME_MS)))
        self._start_ms = settings.vad_start_ms
        # The utterance in progress
        self.in_utterance = False
        self.started_at = 0.0
        self.speech_ms = 0.0
        self.last_speech_end: float | None = None
        self.partial = ""
        self._deferred_start: float | None = None
        self._loud_rms = 0.0
        self._recent_rms: deque[float] = deque(maxlen=NOISE_WINDOW_FRAMES)

    def hear(self, t_ms: float, ulaw: bytes, *, agent_speaking: bool = True) -> IncomingFrame:
        """Decode and judge one frame; note when an utterance is due to begin.

        `agent_speaking`: whether the agent's audio is going out. The onset model only
        matters then (it decides a pause); otherwise it idles, keeping the line's noise floor
        and its last 320 ms, and costs a call a fraction of a millisecond less per frame."""
        pcm = ulaw_decode(ulaw)
        pcm16k = self.upsampler.process(pcm)
        # The frame is whole when it reaches us, so it covers the 20 ms that end now.
        vad_event = self.vad.process(pcm, t_ms - FRAME_MS)
        if self.onset is not None:  # (every frame: its noise floor must know the line)
            # It hears the recognisers' 16 kHz audio (one resampling per frame, not two), whose
            # first sample is the filter's lag earlier than the frame's.
            start_ms = t_ms - FRAME_MS - self._upsampling_lag_ms
            if agent_speaking:
                self.onset.process(pcm16k, start_ms)
            else:
                voiced = self.vad.is_speech or isinstance(vad_event, VadSpeechStart)
                self.onset.idle(pcm16k, start_ms, speech=voiced)
        # (The detector's `process` asked webrtcvad already, and `_is_speech_frame` asks again.
        # webrtcvad adapts its noise model and hangover on every call: its two answers about one
        # frame differ on 10 of 634 frames of piper speech (7 of 999 of babble), and asking once
        # changes 16 of those 634. One call per frame would be a change of behaviour.)
        speech = self._is_speech_frame(pcm)
        if isinstance(vad_event, VadSpeechStart) and not self.in_utterance and speech:
            # (webrtcvad alone also starts on babble and hum: the frame must stand above the
            # line's noise floor too, else the start waits for one that does, below.)
            self._deferred_start = vad_event.t_ms
        elif isinstance(vad_event, VadSpeechEnd) and not self.in_utterance:
            self._deferred_start = None
        elif (
            speech and not self.in_utterance and self._deferred_start is None and self.vad.is_speech
        ):
            # The turn was ended on a pause the VAD had not yet confirmed as silence, and the
            # caller went on speaking: no new start event will come, so this is the start.
            self._deferred_start = t_ms - FRAME_MS
        return IncomingFrame(t_ms, pcm16k, vad_event, speech)

    def start_due(self, recogniser_busy: bool) -> float | None:
        """When the utterance due to begin began, if it may begin now.

        (While the recogniser finalises the previous utterance on a worker thread it must not
        be touched: the audio waits in the pre-roll and the utterance begins after.)"""
        if self._deferred_start is None or recogniser_busy or self.in_utterance:
            return None
        started, self._deferred_start = self._deferred_start, None
        return started

    def begin(self, started_at: float) -> list[np.ndarray]:
        """An utterance began at `started_at`: its audio so far (the pre-roll), handed over."""
        self.in_utterance = True
        self.started_at = started_at
        self.speech_ms = self._start_ms  # the run that confirmed the start
        self.last_speech_end = None
        self.partial = ""
        audio = list(self.preroll)
        self.preroll.clear()
        return audio

    def count(self, frame: IncomingFrame) -> None:
        """A frame of the utterance in progress."""
        if frame.speech:
            self.speech_ms += FRAME_MS
            self.last_speech_end = frame.t_ms

    def end(self) -> None:
        self.in_utterance = False
        self._deferred_start = None

    def _is_speech_frame(self, pcm: np.ndarray) -> bool:
        """webrtcvad's verdict, minus the faint tail it keeps calling speech.

        webrtcvad hangs on to the fading end of a word for several frames; counting those
        would add 60-100 ms to every endpoint. A frame far quieter than the utterance's loud
        frames (below `TAIL_RATIO` of their level) is treated as silence.
        """
        # (`rms` is a plain dot product, and the median `statistics.median`: this runs on every
        # frame of every call, where numpy's general reductions cost ~10x more on 160 samples)
        level = rms(pcm)
        # The line's noise floor: the median level of the last 1.5 s heard outside the
        # caller's utterances (while they listen, the line carries only its background: a
        # street, a fan, an office's babble). Babble has loud moments well above its median,
        # but not `NOISE_MARGIN` above it for long; the caller's own speech is.
        if not self.in_utterance:
            self._recent_rms.append(level)
        # A call's first 200 ms are the line alone (the caller waits for the greeting) and
        # measure it: nothing counts as speech before the floor is known.
        if len(self._recent_rms) < NOISE_FLOOR_MIN_FRAMES:
            return False
        noise_floor = statistics.median(self._recent_rms)
        if not self.vad.frame_is_speech(pcm):
            return False
        self._loud_rms = max(level, self._loud_rms * 0.995)  # a slowly decaying peak
        return level >= TAIL_RATIO * self._loud_rms and level >= NOISE_MARGIN * noise_floor
