"""Drivers for a call whose caller is simulated here: virtual time, or paced on the wall clock.

**Virtual time** (the default): a whole call as fast as the CPU allows, with honest latencies.

Time is a number, advanced in 20 ms ticks and to the exact moments stage work completes.
Every stage the session asks for is run at once and its real compute time measured
(`time.perf_counter`); the latency model turns that into the cost charged on the call's
clock (`MeasuredLatency` charges it as measured, `FixedLatency` a constant for reproducible
runs, a profile a vendor stand-in). Work started together — topic classification beside
retrieval — completes at its own start + cost, so parallel stages overlap in the trace exactly
as they would in production.

At each tick, in order: stage results due by now are delivered; the caller's frame for the
previous 20 ms is sent into the uplink leg; the agent's jitter buffer plays one frame into the
session; the agent's output clock pulls one frame into the downlink leg; the caller's jitter
buffer plays one frame to the caller's ear.

**Real time** (`realtime=True`): the same ticks, paced on the wall clock; stage work runs on
worker threads (off the audio path) and is delivered when it really finishes, so the trace
shows wall-clock costs including any contention.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_MS
from workbench.audio.heard import last_audible_index
from workbench.audio.jitter import JitterBuffer
from workbench.audio.network import NetworkConditions, NetworkLeg
from workbench.engine import events as ev
from workbench.engine.caller import Caller
from workbench.engine.latency import LatencyModel, MeasuredLatency
from workbench.engine.observer import CallerSideObserver
from workbench.engine.outcomes import OverlapOutcome
from workbench.engine.overlaps import HeardFrame, overlap_outcomes
from workbench.engine.playout import AgentFrame
from workbench.engine.scorecard import call_facts
from workbench.engine.session import CallSession
from workbench.engine.stages import StageWork
from workbench.engine.trace import Span, TurnTimeline

log = logging.getLogger(__name__)


@dataclass
class CallResult:
    """Everything a finished call produced."""

    call_id: str
    events: list[ev.Event]
    timelines: list[TurnTimeline]
    transcript: list[tuple[str, str]]
    duration_ms: float
    end_reason: str
    disposition: str
    wall_s: float = 0.0
    network: dict[str, Any] = field(default_factory=dict)
    timeline_errors: list[str] = field(default_factory=list)
    captured: dict[str, Any] = field(default_factory=dict)  # what the agent captured
    intended_crm_actions: list[dict[str, Any]] = field(default_factory=list)
    reprompts: int = 0  # no-input / no-match re-prompts the agent made
    routing: str | None = None  # ai_resolved | human | workflow, as the agent decided
    caller_number: str = ""
    # What became of each sound the caller made over the agent (a caller that knows its
    # intent, e.g. a scripted one, says which; `overlaps.overlap_outcomes`).
    overlaps: list[OverlapOutcome] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)  # topics taken up, in order
    topics_done: list[str] = field(default_factory=list)  # topics whose action ran to its end
    no_matches: int = 0  # re-prompts that were a no-match
    agent_topics: dict[str, dict[str, Any]] = field(default_factory=dict)  # name → slots, action

    @property
    def speedup(self) -> float:
        return (self.duration_ms / 1000.0) / self.wall_s if self.wall_s > 0 else float("inf")


def make_jitter_buffer() -> JitterBuffer:
    return JitterBuffer(initial_delay_ms=20.0, min_delay_ms=20.0, max_delay_ms=200.0)


class LocalCallDriver:
    """Runs one call between a simulated caller and a session, end to end."""

    def __init__(
        self,
        session: CallSession,
        caller: Caller,
        *,
        network: NetworkConditions | None = None,
        latency: LatencyModel | None = None,
        seed: int = 0,
        max_duration_ms: float = 180_000.0,
        on_event: Callable[[ev.Event], None] | None = None,
        realtime: bool = False,
        strict_timelines: bool = False,
    ) -> None:
        self.realtime = realtime
        self._executor = (
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="stage") if realtime else None
        )
        self._done_queue: queue.SimpleQueue = queue.SimpleQueue()
        self._wall_zero = 0.0
        self._stop_requested = False
        self.session = session
        self.caller = caller
        self.latency = latency or MeasuredLatency()
        conditions = network or NetworkConditions.clean()
        self.uplink = NetworkLeg(conditions, seed=seed * 2 + 1)
        self.downlink = NetworkLeg(conditions, seed=seed * 2 + 2)
        self.agent_jitter = make_jitter_buffer()
        self.caller_jitter = make_jitter_buffer()
        self.max_duration_ms = max_duration_ms
        self.observer = CallerSideObserver(session, strict=strict_timelines)
        self._on_event = on_event
        self.events: list[ev.Event] = []
        self._work_heap: list[tuple[float, int, StageWork, Any, BaseException | None]] = []
        self._order = itertools.count()
        self._up_in_flight: list[tuple[float, int, Any]] = []
        self._down_in_flight: list[tuple[float, int, Any]] = []
        self._dtmf_in_flight: list[tuple[float, int, str]] = []
        self._up_seq = 0
        self._down_seq = 0
        self._speech_end_by_seq: dict[int, float | None] = {}
        self._agent_frame_by_seq: dict[int, AgentFrame] = {}
        self.heard: list[HeardFrame] = []  # agent frames as they reached the caller's ear
        self._last_heard_meta: AgentFrame | None = None

    def set_network(self, conditions: NetworkConditions) -> None:
        """Change both directions of the caller's leg mid-call."""
        self.uplink.set_conditions(conditions)
        self.downlink.set_conditions(conditions)

    # ------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running call to end at the next tick (thread-safe)."""
        self._stop_requested = True

    def run(self) -> CallResult:
        try:
            return self._run()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)

    def _now_ms(self) -> float:
        return (time.perf_counter() - self._wall_zero) * 1000.0

    def _wait_for_tick(self, t_ms: float) -> None:
        """Real time: deliver finished work as it finishes until the tick is due."""
        while True:
            remaining = (t_ms - self._now_ms()) / 1000.0
            try:
                item = (
                    self._done_queue.get(timeout=max(0.0, remaining))
                    if remaining > 0
                    else self._done_queue.get_nowait()
                )
            except queue.Empty:
                return
            self._complete(*item)

    def _run(self) -> CallResult:
        wall_start = time.perf_counter()
        self._wall_zero = wall_start
        self._handle(self.session.start(0.0), 0.0)
        t = 0.0
        hung_up = False
        drain_until: float | None = None
        while t <= self.max_duration_ms:
            if self.realtime:
                self._wait_for_tick(t)
            else:
                self._deliver_work_until(t)
            if self._stop_requested and not hung_up:
                hung_up = True
                self._handle(self.session.hang_up(t), t)
            # The caller's previous 20 ms are complete: packetise and send them.
            if not hung_up and t >= FRAME_MS:
                frame = self.caller.frame(t - FRAME_MS)
                if frame.network is not None:
                    self.set_network(frame.network)
                if frame.dtmf:
                    self._send_dtmf(t, frame.dtmf)
                self._send_up(t, frame)
                if self.caller.done:
                    hung_up = True
                    self._handle(self.session.hang_up(t), t)
            while self._dtmf_in_flight and self._dtmf_in_flight[0][0] <= t:
                _, _, digit = heapq.heappop(self._dtmf_in_flight)
                self._handle(self.session.on_dtmf(t, digit), t)
            self._arrive(t, self._up_in_flight, self.agent_jitter)
            played = self.agent_jitter.pop(t)
            speech_end = (
                self._speech_end_by_seq.pop(played.seq, None)
                if played.kind == "audio" and played.seq is not None
                else None
            )
            self.observer.caller_frame_delivered(t, speech_end)
            self._handle(self.session.on_caller_frame(t, played.payload), t)
            agent_frame, outputs = self.session.pull_agent_frame(t)
            self._handle(outputs, t)
            if agent_frame is not None:
                self._send_down(t, agent_frame)
            self._arrive(t, self._down_in_flight, self.caller_jitter)
            heard = self.caller_jitter.pop(t)
            pcm = ulaw_decode(heard.payload)
            self.caller.hear(t, pcm)
            if heard.kind == "audio" and heard.seq is not None:
                frame_meta = self._agent_frame_by_seq.pop(heard.seq, None)
                if frame_meta is not None:
                    self._emit_all(self.observer.agent_frame_heard(t, frame_meta, pcm))
                    self._last_heard_meta = frame_meta
            if heard.kind != "silence" and self._last_heard_meta is not None:
                # (a concealed frame is the last one fading out: the caller hears it too)
                meta, last = self._last_heard_meta, last_audible_index(pcm)
                audible_end = None if last is None else t + (last + 1) / 8.0
                self.heard.append(
                    HeardFrame(t, meta.turn, meta.sentence_index, meta.text, audible_end)
                )
            if self.session.ended and drain_until is None:
                drain_until = t + 600.0  # let the last words reach the caller's ear
            if drain_until is not None and t >= drain_until and not self._down_in_flight:
                break
            t += FRAME_MS
        if not self.session.ended:
            self._handle(self.session.hang_up(t, reason="timeout"), t)
        self._emit_all(self.observer.finish())
        wall = time.perf_counter() - wall_start
        sounds = getattr(self.caller, "caller_sounds", None)
        overlaps = overlap_outcomes(self.heard, self.events, sounds()) if sounds else []
        timelines = [self.observer.timelines[k] for k in sorted(self.observer.timelines)]
        return CallResult(
            call_id=self.session.call_id,
            events=self.events,
            timelines=timelines,
            transcript=list(self.session.transcript),
            duration_ms=t,
            end_reason=self.session.end_reason,
            disposition=self.session.disposition,
            wall_s=wall,
            timeline_errors=list(self.observer.timeline_errors),
            captured=dict(getattr(self.session.conversation, "captured", {}) or {}),
            intended_crm_actions=list(
                getattr(self.session.conversation, "intended_crm_actions", []) or []
            ),
            reprompts=int(getattr(self.session.conversation, "reprompt_count", 0) or 0),
            routing=self.session.routing,
            caller_number=self.session.caller_number,
            overlaps=overlaps,
            **call_facts(self.session),
            network={
                "uplink": vars(self.uplink.stats),
                "downlink": vars(self.downlink.stats),
                "agent_jitter_buffer": vars(self.agent_jitter.stats),
                "caller_jitter_buffer": vars(self.caller_jitter.stats),
            },
        )

    # ------------------------------------------------------------------

    def _handle(self, outputs: list[Any], t_ms: float) -> None:
        for output in outputs:
            if isinstance(output, StageWork):
                self._run_work(output, t_ms)
            else:
                self._emit(output)
        self.observer.sync_turns()

    def _emit(self, event: ev.Event) -> None:
        self.events.append(event)
        self.observer.on_event(event)
        self.caller.on_event(event)
        if self._on_event is not None:
            self._on_event(event)

    def _emit_all(self, events: list[ev.Event]) -> None:
        for event in events:
            self._emit(event)

    def _run_work(self, work: StageWork, t_ms: float) -> None:
        if self._executor is not None:
            self._executor.submit(self._run_threaded, work, self._now_ms())
            return
        started = time.perf_counter()
        error: BaseException | None = None
        result: Any = None
        try:
            result = work.run()
        except Exception as exc:  # a failing stage must not end the call
            error = exc
        measured_ms = (time.perf_counter() - started) * 1000.0
        tokens = work.tokens
        if not tokens and getattr(result, "sentences", None):
            # A reply's time to first audio needs its first sentence's tokens (LLM profiles).
            tokens = len(str(result.sentences[0]).split())
        charged = self.latency.cost_ms(work.stage, measured_ms, tokens=tokens)
        done_at = t_ms + charged
        record = self.session.turns.get(work.turn)
        if record is not None:
            record.spans.append(
                Span(
                    work.stage,
                    t_ms,
                    charged,
                    # Only the measured model names the measurement: other models' traces must
                    # be identical run after run.
                    f"measured {measured_ms:.2f} ms"
                    if self.latency.name == "measured"
                    else f"charged by the {self.latency.name} model",
                )
            )
        heapq.heappush(self._work_heap, (done_at, next(self._order), work, result, error))

    def _run_threaded(self, work: StageWork, started_ms: float) -> None:
        try:
            result, error = work.run(), None
        except Exception as exc:  # a failing stage must not end the call
            result, error = None, exc
        self._done_queue.put((started_ms, self._now_ms(), work, result, error))

    def _complete(
        self,
        started_ms: float,
        done_ms: float,
        work: StageWork,
        result: Any,
        error: BaseException | None,
    ) -> None:
        record = self.session.turns.get(work.turn)
        if record is not None:
            record.spans.append(Span(work.stage, started_ms, done_ms - started_ms, "wall clock"))
        if error is None:
            outputs = self.session.on_stage_done(done_ms, work.work_id, result)
        else:
            outputs = self.session.on_stage_failed(done_ms, work.work_id, error)
        self._handle(outputs, done_ms)

    def _deliver_work_until(self, t_ms: float) -> None:
        while self._work_heap and self._work_heap[0][0] <= t_ms:
            done_at, _, work, result, error = heapq.heappop(self._work_heap)
            if error is None:
                outputs = self.session.on_stage_done(done_at, work.work_id, result)
            else:
                outputs = self.session.on_stage_failed(done_at, work.work_id, error)
            self._handle(outputs, done_at)

    def _send_up(self, t_ms: float, frame: Any) -> None:
        seq = self._up_seq
        self._up_seq += 1
        packet = self.uplink.send(seq, t_ms, frame.payload)
        if packet is None:
            return
        self._speech_end_by_seq[seq] = frame.speech_end_ms
        heapq.heappush(self._up_in_flight, (packet.arrival_ms, seq, packet))

    def _send_dtmf(self, t_ms: float, digit: str) -> None:
        """DTMF travels as a message beside the audio: it takes the leg's delay, but a
        carrier retransmits it, so it is never lost."""
        delay = self.uplink.conditions.delay_ms
        heapq.heappush(self._dtmf_in_flight, (t_ms + delay, next(self._order), digit))

    def _send_down(self, t_ms: float, frame: AgentFrame) -> None:
        seq = self._down_seq
        self._down_seq += 1
        packet = self.downlink.send(seq, t_ms, frame.payload)
        if packet is None:
            return
        self._agent_frame_by_seq[seq] = frame
        heapq.heappush(self._down_in_flight, (packet.arrival_ms, seq, packet))

    @staticmethod
    def _arrive(t_ms: float, in_flight: list[tuple[float, int, Any]], buffer: JitterBuffer) -> None:
        while in_flight and in_flight[0][0] <= t_ms:
            _, _, packet = heapq.heappop(in_flight)
            buffer.push(packet)


VirtualTimeDriver = LocalCallDriver  # the default mode; the name says what tests mean
