"""The call session: one call, turn by turn, as a state machine with no clock of its own.

Inputs arrive with the time they happen on the call's clock:

- `start(t)`: the call connected (the agent greets);
- `on_caller_frame(t, ulaw)`: a 20 ms μ-law frame of caller audio reached the agent (after the
  network leg and the agent's jitter buffer);
- `on_stage_done(t, work_id, result)` / `on_stage_failed(t, work_id, error)`: stage work the
  session asked for has finished;
- `pull_agent_frame(t)`: the agent's 20 ms output clock ticked; returns the frame to send, if any;
- `hang_up(t)`.

Outputs are returned, never performed: `Event`s from the catalogue and `StageWork` items (a
stage name and a callable). Drivers decide when and where work runs: the virtual-time driver
runs it at once and delivers its result at `start + cost`; the real-time driver runs it on a
worker thread and delivers it when done. Cheap per-frame processing (μ-law decode, VAD,
resampling, feeding the streaming recogniser) happens inline, because in production it runs
in step with the audio and is not on the turn's critical path.

The session composes rooms, each owning its state: `Listening` (listening.py: each frame's
speech decision, the noise floor, the pre-roll, the utterance in progress), `Playout`
(playout.py: the reply's pieces and frames, what was sent and heard), `BargeIns` (barge_in.py:
the caller talking over the agent: pause, yield, resume, rephrase), `AccurateEar`
(accurate_ear.py: the final pass) and the `WorkLedger` (stages.py: the stage work asked for).
What stays here is turn-taking: when an utterance begins and ends, what a turn's words lead to
(understanding, a reply, a re-prompt), and the call's start and end.

Per turn the session records the agent-side checkpoints of its critical path (endpoint, STT
final, understanding, response, first TTS audio, first frame sent) in a `TurnRecord`
(turns.py); a driver that also sees the caller side turns them into the caller-perceived
`TurnTimeline`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.audio.frames import FRAME_MS
from workbench.engine import events as ev
from workbench.engine.accurate_ear import AccurateEar
from workbench.engine.answering import Answering, fallback_reply
from workbench.engine.barge_in import BargeIns
from workbench.engine.endpointing import make_endpointer
from workbench.engine.listening import Listening
from workbench.engine.playout import AgentFrame, Playout, frames_from
from workbench.engine.stages import Output, Stage, StageWork, WorkLedger
from workbench.engine.turns import TurnRecord
from workbench.speech.ears import FINAL_PASS_LANE
from workbench.speech.numbers import display_text
from workbench.speech.stt import Transcript
from workbench.speech.vad import VadSpeechEnd

log = logging.getLogger(__name__)

StageHandler = Callable[[float, StageWork, Any], list[Output]]


@dataclass(frozen=True)
class SessionSettings:
    """How a session listens and speaks; every field is a knob an engineer may turn."""

    endpointing: str = "semantic"  # "silence" | "semantic"
    silence_ms: float = 500.0  # the silence mode's wait
    # The semantic mode's wait after words that sound complete: the latency a caller who only
    # pauses after a complete-sounding clause is talked over at (`bench endpoints`)
    complete_ms: float = 160.0
    vad_aggressiveness: int = 2
    vad_start_ms: float = 60.0
    min_utterance_ms: float = 100.0  # shorter bursts of "speech" are noise
    preroll_ms: float = 300.0  # audio before the VAD confirmed speech, fed to STT
    filler_after_ms: float = 900.0  # play a filler if no reply audio this long after endpoint
    filler_text: str = "One moment."
    no_input_timeout_ms: float = 8000.0  # caller silent this long after the agent spoke
    barge_in: bool = True  # the caller may interrupt the agent
    # A caller who speaks again this soon after the reply began was still finishing the last
    # utterance: the reply is withdrawn and both utterances are answered together.
    continuation_ms: float = 1000.0
    # How a paused reply goes on: "continue" (from the start of the cut word) or "rephrase"
    # ("As I was saying, " and the rest of the cut sentence) once the pause was at least
    # `rephrase_after_ms` long; shorter pauses continue either way.
    resume_policy: str = "continue"
    rephrase_after_ms: float = 1500.0
    # A pause this long ends in a resume unless the caller's turn has begun (LiveKit's
    # `false_interruption_timeout`): babble or a long cough must not silence the reply.
    pause_cap_ms: float = 2000.0
    # While paused, a short caller sound (under the judge's longest acknowledgement) ends
    # after this much silence, whatever the endpointer would wait: the resume gap.
    paused_endpoint_ms: float = 200.0
    # "pause" (the default): go quiet as soon as a voice detector made for it (Silero,
    # `speech/silero.py`) confirms the caller's voice, then yield to a real interruption or
    # resume after an acknowledgement (fast stops; an acknowledgement costs a short pause,
    # reported as a resume). "judge": keep talking until the words show a real interruption
    # (no pauses for acknowledgements, stops ~330 ms after the onset). webrtcvad alone paused
    # for coughs and babble: BENCHMARKS.md, "Voice onset".
    interruption: str = "pause"
    # Speech that starts this soon after an acknowledgement ("Yeah, … but what about") is the
    # caller taking the turn: judged an interruption as soon as it is speech.
    follow_on_ms: float = 600.0
    # The ear: "fast" (the streaming recogniser's words) or "accurate" (a final pass over the
    # utterance's audio gives the words the agent understands; see accurate_ear.py).
    ear: str = "fast"
    # The accurate ear starts its pass early in a silence, `final_pass_lead_ms` before the
    # endpointer would end the turn on the words so far (and not before `final_pass_after_ms`
    # of silence), so the endpointer's wait hides part of the pass; a caller who goes on
    # discards it. (Starting at every 60 ms pause discarded ~4 passes per utterance.)
    # Off when a latency profile stands in for a vendor: a vendor finalises after the endpoint.
    speculative_final_pass: bool = True
    final_pass_after_ms: float = 60.0
    final_pass_lead_ms: float = 100.0
    # ... and no later than this into a pause: its words then judge the turn's end in place
    # of the streaming words (pocketsphinx's "…opening hours on the" kept the turn open for
    # 900 ms where Whisper heard "…on Saturday", complete; and Whisper's trailing "and" keeps
    # open a turn pocketsphinx heard as finished).
    final_pass_latest_ms: float = 300.0
    final_pass_lane: str = FINAL_PASS_LANE

    def describe(self) -> dict[str, Any]:
        return {
            "ear": self.ear,
            "endpointing": self.endpointing,
            "silence_ms": self.silence_ms,
            "filler_after_ms": self.filler_after_ms,
            "barge_in": self.barge_in,
            "resume_policy": self.resume_policy,
            "rephrase_after_ms": self.rephrase_after_ms,
            "pause_cap_ms": self.pause_cap_ms,
            "interruption": self.interruption,
        }


class CallSession:
    """One call between a caller and an agent. Not thread-safe: one driver owns it."""

    def __init__(
        self,
        call_id: str,
        agent: Any,
        speech: Any,
        settings: SessionSettings | None = None,
        caller: Any = None,
        caller_number: str = "",
        reference: Any = None,
        responder: Any = None,
    ) -> None:
        """`reference`: the date and time relative dates ("next Tuesday") resolve against;
        None means now. Scripted runs fix it so they are reproducible. `responder`: who writes
        the replies (default: the agent's flow; e.g. an `LlmResponder`, whose replies stream)."""
        self.reference = reference
        self.responder = responder or agent
        self.call_id = call_id
        self.agent = agent
        self.speech = speech
        self.settings = settings or SessionSettings()
        self.caller_context = caller
        self.caller_number = caller_number
        self.listening = Listening(speech, self.settings)
        self.recognizer = speech.acquire_recognizer()
        self.ear = AccurateEar(
            self, speech.final_pass() if self.settings.ear == "accurate" else None
        )
        self.endpointer = make_endpointer(
            self.settings.endpointing, self.settings.silence_ms, self.settings.complete_ms
        )
        self.works = WorkLedger()
        self.playout = Playout(self.works, speech.render_agent_speech)
        self.barge = BargeIns(self)
        self.conversation: Any = None
        self.turns: dict[int, TurnRecord] = {}
        self.current_turn = 0
        self.state = "new"  # new | listening | thinking | speaking | ended
        self.ended = False
        self.end_reason = ""
        self.disposition = ""
        self.routing: str | None = None  # the last routing decision the agent made
        self.transcript: list[tuple[str, str]] = []  # (speaker, text) as heard/sent
        self.stt_busy = False  # the recogniser is closing an utterance: it must not be touched
        self._queued_utterances: deque[tuple[float, str]] = deque()
        self.answering = Answering(self)
        self._filler_frames = speech.filler_frames(self.settings.filler_text)
        self._filler_played = False
        self.last_agent_audio_end: float | None = None  # the no-input timer runs from here
        self.end_after_speaking = False
        # Each stage's result goes to its handler (pyright checks the names against `Stage`).
        self._on_done: dict[Stage, StageHandler] = {
            "stt_final": self._on_stt_final_done,
            "stt_close": self.ear.on_close_done,
            "stt_pass": self.ear.on_pass_done,
            "classify": self.answering.on_classify_done,
            "retrieve": self.answering.on_retrieve_done,
            "respond": self.answering.on_respond_done,
            "respond_more": self._on_respond_more_done,
            "tts_sentence": self._on_tts_sentence_done,
            "tts_rephrase": self._on_tts_rephrase_done,
        }

    # ------------------------------------------------------------------ inputs

    def start(self, t_ms: float) -> list[Output]:
        """The call connected: greet the caller."""
        self.state = "thinking"
        if self.reference is not None:
            self.conversation = self.agent.new_conversation(
                self.caller_context, reference=self.reference
            )
        else:
            self.conversation = self.agent.new_conversation(self.caller_context)
        record = TurnRecord(turn=0, endpoint_at=t_ms)
        self.turns[0] = record
        out: list[Output] = [
            ev.CallStarted(
                self.call_id,
                t_ms,
                caller=self.caller_number,
                agent=self.agent.name,
                settings=self.settings.describe(),
            )
        ]
        out.append(self.works.new("respond", 0, lambda: self.agent.greet(self.conversation)))
        return out

    def on_caller_frame(self, t_ms: float, ulaw: bytes) -> list[Output]:
        if self.ended:
            return []
        out: list[Output] = []
        listening = self.listening
        frame = listening.hear(t_ms, ulaw, agent_speaking=self.state == "speaking")
        started = listening.start_due(self.stt_busy)
        if started is not None:
            out += self._begin_utterance(started)
        if listening.in_utterance:
            listening.count(frame)
            partial = self.recognizer.feed(frame.pcm16k)
            if self.ear.active:
                out += self.ear.frame(t_ms, frame.pcm16k, frame.speech)
            if partial is not None and partial != listening.partial:
                listening.partial = partial
                out.append(ev.PartialTranscript(self.call_id, t_ms, text=partial))
            out += self.barge.frame(t_ms)
            if isinstance(frame.vad_event, VadSpeechEnd):
                out.append(ev.CallerSpeechEnded(self.call_id, frame.vad_event.t_ms))
            if not frame.speech and listening.last_speech_end is not None:
                silence = t_ms - listening.last_speech_end
                decision = self.endpointer.decide(silence, self.ear.endpoint_words())
                if decision is None:
                    decision = self.barge.paused_endpoint(silence)
                if decision is not None:
                    out += self._end_utterance(t_ms, decision)
        else:
            listening.preroll.append(frame.pcm16k)
            if (
                self.state == "listening"
                and self.last_agent_audio_end is not None
                and t_ms - self.last_agent_audio_end >= self.settings.no_input_timeout_ms
            ):
                out += self._no_input(t_ms)
        if self.barge.overlap is not None:  # (a pause that reached its cap ends)
            out += self.barge.check_cap(t_ms)
        return out

    def on_stage_done(self, t_ms: float, work_id: int, result: Any) -> list[Output]:
        work = self.works.take(work_id)
        if work is None or self.ended or work_id in self.works.cancelled:
            self.works.cancelled.discard(work_id)
            return []
        return self._on_done[work.stage](t_ms, work, result)

    def on_stage_failed(self, t_ms: float, work_id: int, error: BaseException) -> list[Output]:
        work = self.works.take(work_id)
        if work is None or self.ended:
            return []
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        log.warning("call %s: stage %s failed: %s", self.call_id, work.stage, message)
        out: list[Output] = [ev.StageFailed(self.call_id, t_ms, stage=work.stage, error=message)]
        record = self.turns[work.turn]
        record.notes.append(f"{work.stage} failed: {message}")
        playout = self.playout
        if work.stage in ("stt_final", "stt_close", "stt_pass"):
            out += self._on_done[work.stage](t_ms, work, None)  # no words from this ear
        elif work.stage in ("classify", "retrieve"):
            # Answer without what failed: () is "known to be missing", unlike None ("pending").
            if work.stage == "classify":
                self.answering.understanding = ()
            else:
                self.answering.chunks = ()
            out += self.answering.maybe_respond(t_ms, work.turn)
        elif work.stage == "respond":
            out += self.answering.speak(t_ms, work.turn, fallback_reply(self.agent))
        elif work.stage == "respond_more":  # the stream broke off: say what was said so far
            playout.more = None
            playout.synthesising = False
        elif work.stage == "tts_rephrase":  # go on without the rephrased rest
            playout.rephrasing = False
        elif work.stage == "tts_sentence":
            playout.synthesising = False
            playout.give_up()  # give up on the rest of this reply
        return out

    def pull_agent_frame(self, t_ms: float) -> tuple[AgentFrame | None, list[Output]]:
        """The 20 ms output clock ticked: the frame to send now (or None) and any events."""
        if self.ended:
            return None, []
        out: list[Output] = []
        playout = self.playout
        record = self.turns.get(self.current_turn)
        if (
            self.state == "thinking"
            and not playout.outgoing
            and not self._filler_played
            and record is not None
            and record.endpoint_at is not None
            and self.current_turn > 0
            and t_ms - record.endpoint_at >= self.settings.filler_after_ms
            and self._filler_frames
        ):
            self._filler_played = True
            text = self.settings.filler_text
            record.notes.append(f"filler {text!r} at +{t_ms - record.endpoint_at:.0f} ms")
            playout.queue(frames_from(self._filler_frames, self.current_turn, "filler", -1, text))
            out.append(
                ev.FillerStarted(
                    self.call_id,
                    t_ms,
                    turn=self.current_turn,
                    text=text,
                    expected_wait_ms=t_ms - record.endpoint_at,
                )
            )
        if self.barge.overlap is not None and self.barge.overlap.paused_at is not None:
            return None, out  # paused while the caller speaks ("pause" interruption mode)
        frame = playout.next_frame()
        if frame is None:
            return None, out
        turn_record = self.turns[frame.turn]
        if turn_record.first_frame_sent_at is None:
            turn_record.first_frame_sent_at = t_ms
            turn_record.first_frame_kind = frame.kind
            out.append(
                ev.AgentAudioStarted(
                    self.call_id, t_ms, turn=frame.turn, text=display_text(frame.text)
                )
            )
        if frame.kind == "speech" and frame.progress >= 1.0:
            playout.sent_whole(frame, self.transcript)
        if not playout.outgoing and not playout.synthesising and self.state == "speaking":
            out += self._finished_speaking(t_ms, frame.turn)
        return frame, out

    def on_audio_heard(
        self, t_ms: float, turn: int, sentence_index: int, progress: float
    ) -> list[Output]:
        """The transport knows the caller played agent audio up to here (a Twilio mark echo)."""
        self.playout.heard = (turn, sentence_index, progress)
        return []

    def on_dtmf(self, t_ms: float, digit: str) -> list[Output]:
        """A keypad digit from the caller.

        While the agent collects sensitive digits (`conversation.secure_input`, e.g. a card
        number) the digit is masked in the event and never stored by the session: only the
        agent sees it, and it keeps only what PCI allows (last four, a token).
        """
        if self.ended:
            return []
        secure = bool(getattr(self.conversation, "secure_input", False))
        out: list[Output] = [
            ev.DtmfReceived(self.call_id, t_ms, digit="*" if secure else digit, secure=secure)
        ]
        on_dtmf = getattr(self.agent, "on_dtmf", None)
        if on_dtmf is None:
            return out
        self.last_agent_audio_end = t_ms  # a key press is input: the no-input timer restarts
        reply = on_dtmf(self.conversation, digit)  # cheap: collecting digits
        if reply is None:
            return out
        if self.state == "speaking":
            self.playout.outgoing.clear()
            self.playout.give_up()
        turn = self.open_turn(t_ms, "keypad entry")
        return out + [self.works.new("respond", turn, lambda: reply)]

    def hang_up(self, t_ms: float, reason: str = "caller_hung_up") -> list[Output]:
        if self.ended:
            return []
        return self._end(t_ms, reason)

    # ------------------------------------------------------------------ turn logic

    def open_turn(self, t_ms: float, label: str, filler: bool = True) -> int:
        """A new turn whose endpoint is now (`filler`: the filler may play in it)."""
        self.current_turn += 1
        turn = self.current_turn
        self.turns[turn] = TurnRecord(turn=turn, endpoint_at=t_ms, endpoint_label=label)
        self.state = "thinking"
        if filler:
            self._filler_played = False
        return turn

    def _begin_utterance(self, started_at: float) -> list[Output]:
        preroll = self.listening.begin(started_at)
        out: list[Output] = []
        if (
            self.state == "thinking"
            and self.current_turn > 0
            and (self.answering.carry_text is None or self.ear.awaited)
        ):
            out += self.answering.continue_previous_turn(
                started_at, "the caller went on before the reply"
            )
        self.barge.begin(started_at)
        self.recognizer.begin_utterance()
        for chunk in preroll:
            self.recognizer.feed(chunk)
        self.ear.begin(started_at, preroll)
        return [*out, ev.CallerSpeechStarted(self.call_id, started_at)]

    def _end_utterance(self, t_ms: float, decision: Any) -> list[Output]:
        listening = self.listening
        listening.end()
        if listening.speech_ms < self.settings.min_utterance_ms:
            self.recognizer.end_utterance()  # noise: discard
            self.ear.discard(t_ms, "the utterance was noise")
            return []
        out: list[Output] = [
            ev.EndpointDecided(
                self.call_id,
                t_ms,
                mode=self.endpointer.mode,
                setting=self.endpointer.setting,
                silence_ms=decision.silence_ms,
                reason=decision.reason,
            )
        ]
        overlap = self.barge.overlap
        if overlap is not None and not overlap.stopped_agent and self.state == "speaking":
            # Spoken over the agent and not judged an interruption yet: let the final
            # transcript decide, while the agent keeps talking.
            overlap.speech_ended_at = listening.last_speech_end
            return out + self._finish_recognising(t_ms, self.current_turn)
        if self.state in ("thinking", "speaking"):
            # A turn is still in progress: finish recognising now, answer after it.
            self.ear.discard(t_ms, "queued behind the turn in progress")
            transcript = self.recognizer.end_utterance()
            self._queued_utterances.append((t_ms, transcript.text))
            return out
        turn = self.open_turn(t_ms, decision.label)
        return out + self._finish_recognising(t_ms, turn)

    def _finish_recognising(self, t_ms: float, turn: int) -> list[Output]:
        """The endpoint is decided: close the streaming recogniser's utterance; the fast ear
        answers with its words, the accurate ear with its final pass's."""
        self.stt_busy = True
        if not self.ear.active:
            return [self.works.new("stt_final", turn, self.recognizer.end_utterance)]
        self.ear.streaming_text = None
        close = self.works.new("stt_close", turn, self.recognizer.end_utterance)
        return [close, *self.ear.await_words(t_ms, turn)]

    def _on_stt_final_done(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        self.stt_busy = False
        return self.on_caller_words(t_ms, work, transcript)

    def on_caller_words(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        """The caller's utterance is recognised (by either ear): judge an overlap, or answer."""
        barge = self.barge
        overlap, barge.overlap = barge.overlap, None
        if overlap is not None:
            text = transcript.text if transcript is not None else ""
            confidence = transcript.confidence if transcript is not None else 0.0
            judgement = barge.judge.judge_final(text, self.listening.speech_ms, confidence)
            if not overlap.stopped_agent:
                return barge.settle(t_ms, work, transcript, overlap, judgement)
            if judgement.verdict in ("backchannel", "noise") and self.answering.carry_text is None:
                return barge.false_interruption(t_ms, work, text, judgement)
        return self.answering.answer_transcript(t_ms, work.turn, transcript)

    def stt_lane(self) -> str:
        """The waterfall lane from the endpoint to the words the agent understands."""
        return self.settings.final_pass_lane if self.ear.active else "STT finalisation"

    def _on_tts_sentence_done(self, t_ms: float, work: StageWork, ulaw: bytes) -> list[Output]:
        if self.playout.next_sentence == 1:
            self.turns[work.turn].checkpoint("TTS first sentence", t_ms)
        return self.playout.synthesised(work, ulaw)

    def _on_respond_more_done(self, t_ms: float, work: StageWork, sentence: Any) -> list[Output]:
        out = self.playout.streamed(work, sentence)
        if sentence is not None and str(sentence).strip():
            self.turns[work.turn].agent_sentences = self.playout.sentences
        return out

    def _on_tts_rephrase_done(self, t_ms: float, work: StageWork, ulaw: bytes) -> list[Output]:
        self.playout.rephrased(ulaw)
        if self.state != "speaking" and self.playout.outgoing:
            self.state = "speaking"
        return []

    def _finished_speaking(self, t_ms: float, turn: int) -> list[Output]:
        """The last frame of the reply left at `t_ms`; its audio ends a frame later."""
        self.last_agent_audio_end = t_ms + FRAME_MS
        out: list[Output] = [
            ev.AgentAudioStopped(self.call_id, t_ms + FRAME_MS, turn=turn, reason="finished")
        ]
        if self.end_after_speaking:
            reason = (
                "handoff"
                if self.answering.reply is not None and self.answering.reply.routing == "human"
                else "agent_ended"
            )
            return out + self._end(t_ms, reason)
        self.state = "listening"
        if self._queued_utterances:
            _, text = self._queued_utterances.popleft()
            turn = self.open_turn(t_ms, "queued utterance", filler=False)
            out += self.answering.answer_transcript(t_ms, turn, Transcript(text, (), 0.0))
        return out

    # ------------------------------------------------------------------ the call's edges

    def _no_input(self, t_ms: float) -> list[Output]:
        turn = self.open_turn(t_ms, "no input", filler=False)
        self.last_agent_audio_end = None
        return [self.works.new("respond", turn, lambda: self.agent.no_input(self.conversation))]

    def _end(self, t_ms: float, reason: str) -> list[Output]:
        self.ended = True
        self.state = "ended"
        self.end_reason = reason
        outcome = getattr(self.conversation, "disposition", None) if self.conversation else None
        self.disposition = outcome or {
            "handoff": "escalated_to_human",
            "caller_hung_up": "abandoned",
            "agent_ended": "ai_resolved",
        }.get(reason, reason)
        self.speech.release_recognizer(self.recognizer)
        out: list[Output] = []
        for action in getattr(self.conversation, "intended_crm_actions", []) or []:
            out.append(
                ev.CrmWriteIntended(
                    self.call_id,
                    t_ms,
                    object=str(action.get("object", "")),
                    fields=dict(action.get("fields", {})),
                )
            )
        out.append(ev.CallEnded(self.call_id, t_ms, reason=reason, disposition=self.disposition))
        return out
