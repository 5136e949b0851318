"""Turns what both ends of a call saw into caller-perceived turn timelines.

The session knows the agent side of a turn (endpoint, stage results, first frame sent); only
the caller knows when its last speech sample left its mouth and when the first audible agent
sample reached its ear. A driver that sees both ends (the virtual-time driver, the real-time
driver with a local caller) feeds this observer, which builds one `TurnTimeline` per turn:

    caller's last speech sample
      → caller leg (packetisation, network, the agent's jitter buffer)  [network]
      → endpointing wait [its setting]                                  [setting]
      → STT finalisation → understanding → response → TTS first sentence [stage]
      → agent output clock (next 20 ms frame) | filler timer             [playout | setting]
      → agent leg (network, the caller's jitter buffer)                  [network]
      → leading silence in the voice                                    [voice]
    first audible agent sample at the caller
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from workbench.audio.heard import first_audible_index
from workbench.engine import events as ev
from workbench.engine.playout import AgentFrame
from workbench.engine.session import CallSession
from workbench.engine.trace import TimelineBuilder, TimelineError, TurnTimeline

log = logging.getLogger(__name__)


@dataclass
class _SpeechArrival:
    speech_end_ms: float  # caller clock: the last speech sample
    delivered_ms: float  # when the frame holding it reached the session


class CallerSideObserver:
    """`strict`: a timeline with out-of-order checkpoints raises (tests); otherwise the error
    is logged and kept in `timeline_errors`, and the call goes on."""

    def __init__(self, session: CallSession, *, strict: bool = False) -> None:
        self.session = session
        self.strict = strict
        self.timeline_errors: list[str] = []
        self.timelines: dict[int, TurnTimeline] = {}
        self._latest_speech: _SpeechArrival | None = None
        self._last_assigned: _SpeechArrival | None = None
        self._origin_by_turn: dict[int, _SpeechArrival | None] = {0: None}
        self._first_heard: dict[int, float] = {}
        self._audible_at: dict[int, float] = {}
        self._awaiting_words: set[int] = set()  # first heard a filler; completed on its reply

    def caller_frame_delivered(self, t_ms: float, speech_end_ms: float | None) -> None:
        """The session received (at `t_ms`) a caller frame whose last speech sample was at
        `speech_end_ms` on the caller's clock (None: no speech in it, or it was lost)."""
        if speech_end_ms is not None:
            self._latest_speech = _SpeechArrival(speech_end_ms, t_ms)

    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            self._call_start = event.t_ms

    def sync_turns(self) -> None:
        """Call after every session input: a turn that has just begun answers the caller
        speech that had reached the agent by then."""
        for turn, record in self.session.turns.items():
            if turn in self._origin_by_turn:
                continue
            fresh = self._latest_speech is not self._last_assigned
            answered_speech = record.endpoint_label != "no input" and fresh
            self._origin_by_turn[turn] = self._latest_speech if answered_speech else None
            if answered_speech:
                self._last_assigned = self._latest_speech

    def agent_frame_heard(self, t_ms: float, frame: AgentFrame, pcm: np.ndarray) -> list[ev.Event]:
        """The caller heard (at `t_ms`) a frame the agent sent; returns events once a turn's
        first audible sample is known, and its `TurnCompleted` once the turn's words are.

        A turn whose first audible sound was a filler is completed when its reply is first
        heard (or a later turn is, or the call ends): its latency stops at the filler, but
        what the caller said and the agent answered are only known then."""
        turn = frame.turn
        out: list[ev.Event] = []
        for waiting in sorted(self._awaiting_words):
            if waiting < turn or (waiting == turn and frame.kind != "filler"):
                out.extend(self._complete(waiting))
        self._first_heard.setdefault(turn, t_ms)
        if turn in self._audible_at:
            return out
        index = first_audible_index(pcm)
        if index is None:
            return out
        audible = t_ms + index * 1000.0 / 8000.0
        self._audible_at[turn] = audible
        out.append(ev.AgentAudioHeard(self.session.call_id, audible, turn=turn))
        if frame.kind == "filler":
            self._awaiting_words.add(turn)
            return out
        return out + self._complete(turn)

    def finish(self) -> list[ev.Event]:
        """The call is over: complete the turns still waiting for their words."""
        out: list[ev.Event] = []
        for waiting in sorted(self._awaiting_words):
            out.extend(self._complete(waiting))
        return out

    def _complete(self, turn: int) -> list[ev.Event]:
        self._awaiting_words.discard(turn)
        try:
            timeline = self._build(turn)
        except TimelineError as error:
            if self.strict:
                raise
            log.error("call %s: %s", self.session.call_id, error)
            self.timeline_errors.append(str(error))
            timeline = None
        if timeline is None:
            return []
        self.timelines[turn] = timeline
        audible = self._audible_at[turn]
        return [ev.TurnCompleted(self.session.call_id, audible, turn=turn, timeline=timeline)]

    def _build(self, turn: int) -> TurnTimeline | None:
        record = self.session.turns.get(turn)
        if record is None or record.first_frame_sent_at is None:
            return None
        origin = self._origin_by_turn.get(turn)
        if turn == 0:
            builder = TimelineBuilder(turn, getattr(self, "_call_start", 0.0))
            builder.notes.append("greeting: from call connect")
        elif origin is None:
            builder = TimelineBuilder(turn, record.endpoint_at or 0.0)
            builder.notes.append(f"no caller speech before this turn ({record.endpoint_label})")
        else:
            builder = TimelineBuilder(turn, origin.speech_end_ms)
            builder.reach("caller leg: network + jitter buffer", "network", origin.delivered_ms)
            if record.endpoint_at is not None:
                builder.reach(
                    record.endpoint_label or "endpointing wait", "setting", record.endpoint_at
                )
        sent = record.first_frame_sent_at
        for name, owner, t in record.checkpoints:
            if t <= sent:
                builder.reach(name, owner, t)
        if record.first_frame_kind == "filler":
            builder.reach(
                f"filler timer [{self.session.settings.filler_after_ms:.0f} ms]", "setting", sent
            )
            builder.notes.append("a filler was the first audio the caller heard")
        else:
            builder.reach("agent output clock (20 ms frames)", "playout", sent)
        builder.reach("agent leg: network + jitter buffer", "network", self._first_heard[turn])
        builder.reach("leading silence in the voice", "voice", self._audible_at[turn])
        builder.caller_text = record.caller_text
        builder.agent_text = " ".join(record.agent_sentences)
        builder.spans.extend(record.spans)
        builder.notes.extend(record.notes)
        return builder.build()
