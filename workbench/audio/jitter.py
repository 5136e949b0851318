"""The caller-side jitter buffer: packets in as they arrive, one 20 ms frame out per tick.

Model. Frames are numbered by `seq`, one per 20 ms, consecutive while the sender sends (as
RTP numbers packets: a pause in sending leaves no gap in the numbers, so a gap always means
loss). The buffer plays frame `next_seq` at each tick. The playout delay is how long after
the fastest packet's arrival a frame is played; it starts at the target delay and changes by
whole frames:

- it grows when a frame is not there yet at its tick (the buffer waits for it, playing a
  concealment frame) or when the target rises above it;
- it shrinks when it is more than a frame above the target and the frame due is quiet
  (dropping a near-silent frame is inaudible), or when concealment already played for a
  frame that turns out to be lost.

With `adaptive=False` the delay is fixed for a talk spurt at what it was for the spurt's
first frame: a frame that arrives after its slot is late even if the buffer was waiting for
it, so every audio frame of a spurt spends the same time in leg and buffer.

Late and lost. A packet pushed after its frame's tick has passed is dropped and counted
`late`. A frame is counted `lost` only when a later frame is known: either buffered when its
tick comes (a gap), or arriving after a pause (a gap bridged later). So when the sender just
stops (the agent is silent), the buffer plays a short faded repeat of the last frame, then
silence, and counts nothing as lost; after a few frames of nothing it goes idle and the next
packet starts a new talk spurt, waiting the target delay again.

Concealment repeats the last frame with a linear fade to zero over `max_conceal_frames`
frames (μ-law decoded, scaled, re-encoded), then plays silence.

Adaptive target: the spread of recent transit times (arrival − sent) between their minimum
and a high percentile, i.e. how much later than the fastest packet most packets arrive,
bounded to [min_delay_ms, max_delay_ms].
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from workbench.audio.codec import ulaw_decode, ulaw_encode
from workbench.audio.frames import SILENCE_FRAME
from workbench.audio.network import Packet

logger = logging.getLogger(__name__)

FrameKind = Literal["audio", "concealed", "silence"]

_TRANSIT_WINDOW = 200  # packets (4 s) of transit history for the target delay
_TARGET_EVERY = 5  # packets between recomputations of the target delay
_MIN_SAMPLES = 10  # transit samples before the target adapts away from the initial delay
_TARGET_QUANTILE = 98.0  # percent of packets that should arrive in time
_QUIET_RMS = 100.0  # int16 RMS (about −50 dBFS) under which dropping a frame is inaudible
_MISSED_MEMORY = 1000  # frames back for which a late arrival turns "lost" into "late"


@dataclass(frozen=True)
class PlayoutFrame:
    """One 20 ms frame handed to the listener.

    `seq` and `sent_ms` are set for audio only: when that frame left the sender, so the time
    it spent in the network leg and this buffer is `play time − sent_ms`.
    """

    kind: FrameKind
    payload: bytes
    seq: int | None = None
    sent_ms: float | None = None


@dataclass(frozen=True)
class JitterStats:
    """What the buffer has done so far.

    - `received`: packets pushed (late ones included); `played`: audio frames played.
    - `late`: packets dropped because their tick had passed.
    - `lost`: frames never received although a later frame was (gaps in seq).
    - `concealed`: faded-repeat frames played (for lost frames and while waiting).
    - `dropped`: quiet frames skipped to bring the delay down to the target.
    - `current_delay_ms`: playout delay beyond the fastest recent packet's transit time.
    - `target_delay_ms`: what the adaptive estimate asks for.
    """

    received: int
    played: int
    late: int
    lost: int
    concealed: int
    dropped: int
    current_delay_ms: float
    target_delay_ms: float


class JitterBuffer:
    """Reorders packets, absorbs jitter, drops late packets and conceals lost frames."""

    def __init__(
        self,
        frame_ms: float = 20.0,
        initial_delay_ms: float = 40.0,
        min_delay_ms: float = 20.0,
        max_delay_ms: float = 200.0,
        adaptive: bool = True,
        max_conceal_frames: int = 3,
    ) -> None:
        if frame_ms <= 0:
            raise ValueError(f"frame_ms must be positive, got {frame_ms}")
        if not 0 <= min_delay_ms <= max_delay_ms:
            raise ValueError(
                f"need 0 <= min_delay_ms <= max_delay_ms, got {min_delay_ms} and {max_delay_ms}"
            )
        if not min_delay_ms <= initial_delay_ms <= max_delay_ms:
            raise ValueError(
                f"initial_delay_ms {initial_delay_ms} is outside [{min_delay_ms}, {max_delay_ms}]"
            )
        if max_conceal_frames < 0:
            raise ValueError(f"max_conceal_frames must be >= 0, got {max_conceal_frames}")
        self.frame_ms = frame_ms
        self.min_delay_ms = min_delay_ms
        self.max_delay_ms = max_delay_ms
        self.adaptive = adaptive
        self.max_conceal_frames = max_conceal_frames

        self._buffer: dict[int, Packet] = {}
        self._next_seq: int | None = None  # the frame due at the next tick
        self._playing = False
        self._spurt_first_arrival_ms: float | None = None
        self._waited_frames = 0  # concealment frames played while nothing was there
        self._last_audio: np.ndarray | None = None
        self._fade_step = 0  # concealment frames played since the last audio frame
        self._missed: set[int] = set()
        self._transits: deque[float] = deque(maxlen=_TRANSIT_WINDOW)
        self._target_ms = float(initial_delay_ms)
        self._new_transits = 0  # transit samples since the target was last computed
        self._offset_ms: float | None = None  # play time − sent time of the last audio frame
        self._spurt_offset_ms: float | None = None  # the same for the talk spurt's first frame

        self._received = 0
        self._played = 0
        self._late = 0
        self._lost = 0
        self._concealed = 0
        self._dropped = 0

    # -- input -------------------------------------------------------------------------------

    def push(self, packet: Packet) -> None:
        """Take a packet as it arrives (pushes must come in arrival order)."""
        self._received += 1
        self._transits.append(packet.arrival_ms - packet.sent_ms)
        self._new_transits += 1
        if self._next_seq is not None and packet.seq < self._next_seq:
            self._late += 1
            if packet.seq in self._missed:  # it did arrive: late, not lost
                self._missed.discard(packet.seq)
                self._lost -= 1
            logger.debug("late packet %d dropped (next due %d)", packet.seq, self._next_seq)
            return
        if packet.seq in self._buffer:
            return  # a duplicate
        self._buffer[packet.seq] = packet
        if not self._playing and self._spurt_first_arrival_ms is None:
            self._spurt_first_arrival_ms = packet.arrival_ms

    # -- output ------------------------------------------------------------------------------

    def pop(self, now_ms: float) -> PlayoutFrame:
        """The frame to play at this 20 ms tick."""
        self._update_target()
        if not self._playing:
            first = self._spurt_first_arrival_ms
            if first is None or now_ms < first + self._target_ms:
                return PlayoutFrame("silence", SILENCE_FRAME)
            self._start_spurt()
        assert self._next_seq is not None
        while True:
            packet = self._buffer.get(self._next_seq)
            if packet is not None and self._missed_its_fixed_slot(packet, now_ms):
                del self._buffer[packet.seq]
                self._next_seq += 1
                self._late += 1
                self._waited_frames = max(0, self._waited_frames - 1)
                continue
            if packet is not None:
                delay = now_ms - packet.sent_ms - self._min_transit()
                if self.adaptive and delay < self._target_ms - self.frame_ms / 2:
                    return self._conceal()  # wait a frame: the delay grows by one frame
                next_there = self._next_seq + 1 in self._buffer
                if (
                    self.adaptive
                    and delay > self._target_ms + self.frame_ms
                    and next_there
                    and _is_quiet(packet.payload)
                ):
                    del self._buffer[self._next_seq]
                    self._next_seq += 1
                    self._dropped += 1
                    continue
                return self._play(packet, now_ms)
            if self._buffer:  # a later frame is here, so this one is lost
                self._count_lost(self._next_seq)
                self._next_seq += 1
                if self._waited_frames > 0:  # concealment already filled its slot
                    self._waited_frames -= 1
                    continue
                return self._conceal()
            # Nothing buffered: the next packet is late, or the sender has stopped.
            self._waited_frames += 1
            if self._waited_frames > self.max_conceal_frames:
                self._go_idle()
                return PlayoutFrame("silence", SILENCE_FRAME)
            return self._conceal()

    @property
    def stats(self) -> JitterStats:
        self._update_target()
        if self._offset_ms is not None and self._transits:
            current = self._offset_ms - self._min_transit()
        else:
            current = self._target_ms
        return JitterStats(
            received=self._received,
            played=self._played,
            late=self._late,
            lost=self._lost,
            concealed=self._concealed,
            dropped=self._dropped,
            current_delay_ms=float(current),
            target_delay_ms=self._target_ms,
        )

    # -- internals ---------------------------------------------------------------------------

    def _start_spurt(self) -> None:
        first_seq = min(self._buffer)
        if self._next_seq is not None:  # a gap bridged across the pause was lost
            self._count_lost(self._next_seq, first_seq)
        self._next_seq = first_seq
        self._playing = True
        self._waited_frames = 0

    def _go_idle(self) -> None:
        """The sender has paused: the next packet starts a new talk spurt."""
        self._playing = False
        self._spurt_first_arrival_ms = None
        self._waited_frames = 0
        self._offset_ms = None
        self._spurt_offset_ms = None

    def _play(self, packet: Packet, now_ms: float) -> PlayoutFrame:
        del self._buffer[packet.seq]
        assert self._next_seq is not None
        self._next_seq = packet.seq + 1
        self._played += 1
        self._waited_frames = 0
        self._fade_step = 0
        self._last_audio = ulaw_decode(packet.payload)
        self._offset_ms = now_ms - packet.sent_ms
        if self._spurt_offset_ms is None:
            self._spurt_offset_ms = self._offset_ms
        return PlayoutFrame("audio", packet.payload, packet.seq, packet.sent_ms)

    def _conceal(self) -> PlayoutFrame:
        """The last frame again, fading linearly to zero over `max_conceal_frames` frames."""
        if self._last_audio is None or self._fade_step >= self.max_conceal_frames:
            return PlayoutFrame("silence", SILENCE_FRAME)
        total = self.max_conceal_frames * len(self._last_audio)
        start = self._fade_step * len(self._last_audio)
        gains = 1.0 - (np.arange(start, start + len(self._last_audio)) + 1) / total
        self._fade_step += 1
        self._concealed += 1
        faded = np.round(self._last_audio.astype(np.float64) * gains).astype(np.int16)
        return PlayoutFrame("concealed", ulaw_encode(faded))

    def _missed_its_fixed_slot(self, packet: Packet, now_ms: float) -> bool:
        """With a fixed delay, a frame waited for past its slot is late, not played late."""
        if self.adaptive or self._spurt_offset_ms is None:
            return False
        return now_ms - packet.sent_ms > self._spurt_offset_ms + self.frame_ms / 2

    def _count_lost(self, first_seq: int, end_seq: int | None = None) -> None:
        """Count frames `first_seq` up to `end_seq` (exclusive; one frame if None) as lost."""
        end_seq = first_seq + 1 if end_seq is None else end_seq
        self._lost += end_seq - first_seq
        self._missed.update(range(max(first_seq, end_seq - _MISSED_MEMORY), end_seq))
        if len(self._missed) > 2 * _MISSED_MEMORY:
            horizon = end_seq - _MISSED_MEMORY
            self._missed = {s for s in self._missed if s >= horizon}

    def _min_transit(self) -> float:
        return min(self._transits) if self._transits else 0.0

    def _update_target(self) -> None:
        # A percentile over the window per 20 ms tick would dominate the per-frame cost;
        # recomputing every few packets tracks jitter just as well.
        if (
            not self.adaptive
            or self._new_transits < _TARGET_EVERY
            or len(self._transits) < _MIN_SAMPLES
        ):
            return
        self._new_transits = 0
        transits = np.fromiter(self._transits, dtype=np.float64)
        spread = float(np.percentile(transits, _TARGET_QUANTILE) - transits.min())
        self._target_ms = float(np.clip(spread, self.min_delay_ms, self.max_delay_ms))


def _is_quiet(payload: bytes) -> bool:
    pcm = ulaw_decode(payload).astype(np.float64)
    return bool(np.sqrt(np.mean(pcm**2)) < _QUIET_RMS) if len(pcm) else True
