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

Per turn the session records the agent-side checkpoints of its critical path (endpoint, STT
final, understanding, response, first TTS audio, first frame sent) in a `TurnRecord`; a driver
that also sees the caller side turns them into the caller-perceived `TurnTimeline`.
"""

from __future__ import annotations

import copy
import itertools
import logging
import statistics
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.audio.codec import ulaw_decode
from workbench.audio.frames import FRAME_MS, iter_frames, rms, word_start
from workbench.audio.resample import StreamingResampler
from workbench.engine import events as ev
from workbench.engine.endpointing import EndpointDecision, make_endpointer
from workbench.engine.interruption import BACKCHANNEL_TOKENS, InterruptionJudge
from workbench.engine.trace import Span
from workbench.speech.ears import FINAL_PASS_LANE, reconcile
from workbench.speech.numbers import display_text
from workbench.speech.stt import Transcript
from workbench.speech.vad import VadSpeechEnd, VadSpeechStart

log = logging.getLogger(__name__)

TAIL_RATIO = 0.1  # a speech frame quieter than this share of the recent peak is a fading tail
NOISE_MARGIN = 4.5  # speech must stand this far (13 dB) above the line's noise floor (median)
NOISE_WINDOW_FRAMES = 75  # 1.5 s of frame levels behind the noise floor
NOISE_FLOOR_MIN_FRAMES = 25  # the floor is trusted after 500 ms of line audio
REPROMPT_SPEECH_MS = 600.0  # speech this long with no words is re-prompted (a cough is not)
CONTEXT_SENTENCES = 3  # of the agent's, the context its final pass hears the caller in


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
    # utterance's audio gives the words the agent understands; see `_start_final_pass`).
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


@dataclass(frozen=True)
class StageWork:
    """Work the session wants done: `run()` is called by the driver, its result delivered back."""

    work_id: int
    stage: str  # stt_final | stt_pass | stt_close | classify | retrieve | respond | tts_sentence
    turn: int
    run: Callable[[], Any]
    tokens: int = 0  # words in a reply, for latency profiles with a token rate


@dataclass(frozen=True)
class AgentFrame:
    """One 20 ms frame of agent audio with what it carries."""

    payload: bytes
    turn: int
    kind: str  # "speech" | "filler"
    sentence_index: int
    text: str  # the sentence this frame belongs to
    progress: float  # fraction of that sentence sent once this frame is sent


@dataclass
class TurnRecord:
    """Agent-side checkpoints of one turn's critical path (absolute call-clock times)."""

    turn: int
    caller_text: str = ""
    endpoint_at: float | None = None
    endpoint_label: str = ""
    checkpoints: list[tuple[str, str, float]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    first_frame_sent_at: float | None = None
    first_frame_kind: str = ""
    agent_sentences: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)
    understanding: Any = None
    chunks: tuple[Any, ...] = ()
    reply: Any = None


Output = ev.Event | StageWork


@dataclass
class _FinalPass:
    """The accurate ear's pass over the current utterance's audio (one at a time)."""

    work_id: int
    samples: int  # the utterance audio it covers (16 kHz)
    audio: list[np.ndarray]  # what it hears: any carried utterance, then this one's so far
    carried: bool  # it hears an earlier utterance again (its reply was withdrawn)
    done: bool = False
    result: Transcript | None = None  # None when done: the pass failed
    dropped: threading.Event = field(default_factory=threading.Event)  # tells a queued run
    awaited: tuple[float, int] | None = None  # (endpoint time, turn) once the turn waits for it


@dataclass
class _Overlap:
    """A caller utterance that began while the agent was speaking."""

    started_at: float
    agent_turn: int
    into_agent_speech_ms: float
    stopped_agent: bool = False
    paused_at: float | None = None  # "pause" mode: when the agent went quiet
    capped_at: float | None = None  # the pause reached its cap and the agent went on
    turn_begun: str = ""  # paused: why the words so far say the caller's turn has begun
    reason: str = ""
    speech_ended_at: float | None = None  # the caller's last speech frame in it
    after_acknowledgement_ms: float | None = None  # began this soon after an acknowledgement


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
        self.vad = speech.new_vad(
            aggressiveness=self.settings.vad_aggressiveness, start_ms=self.settings.vad_start_ms
        )
        # "pause" mode's voice onset detector (None in "judge" mode: its words decide)
        pausing = self.settings.interruption == "pause" and self.settings.barge_in
        self._onset = speech.new_onset_detector() if pausing else None
        self.recognizer = speech.acquire_recognizer()
        # The accurate ear's final pass (None: the fast ear, whose words are the recogniser's).
        self.final_pass = speech.final_pass() if self.settings.ear == "accurate" else None
        self._audio: list[np.ndarray] = []  # the utterance's 16 kHz audio, for the final pass
        self._audio_samples = 0
        self._speech_samples = 0  # of the utterance's audio, up to its last speech frame
        self._carry_audio: list[np.ndarray] = []  # an utterance to hear again with the next
        self._pass: _FinalPass | None = None
        self._heard_audio: list[np.ndarray] = []  # the audio of the words last answered
        self._words_include_carry = False  # the final pass heard the carried utterance too
        self._streaming_text: Transcript | None = None  # the recogniser's, if the pass fails
        self.tts = speech.agent_tts
        self.endpointer = make_endpointer(
            self.settings.endpointing, self.settings.silence_ms, self.settings.complete_ms
        )
        self._upsampler = StreamingResampler(8000, 16000)
        self._preroll: deque[np.ndarray] = deque(
            maxlen=max(1, int(self.settings.preroll_ms // FRAME_MS))
        )
        self._work_ids = itertools.count(1)
        self._pending: dict[int, StageWork] = {}
        self.conversation: Any = None
        self.turns: dict[int, TurnRecord] = {}
        self.current_turn = 0
        self.state = "new"  # new | listening | thinking | speaking | ended
        self.ended = False
        self.end_reason = ""
        self.disposition = ""
        self.routing: str | None = None  # the last routing decision the agent made
        self.transcript: list[tuple[str, str]] = []  # (speaker, text) as heard/sent
        # The transcript line of each agent sentence sent whole, by (turn, sentence): a barge-in
        # takes back those the caller never heard (still in its buffer when Twilio cleared it).
        self._sentence_lines: dict[tuple[int, int], tuple[str, str]] = {}
        # Utterance in progress
        self._in_utterance = False
        self._utterance_started_at = 0.0
        self._speech_ms = 0.0
        self._last_speech_end: float | None = None
        self._partial = ""
        self._queued_utterances: deque[tuple[float, str]] = deque()
        self._loud_rms = 0.0
        self._recent_rms: deque[float] = deque(maxlen=NOISE_WINDOW_FRAMES)
        self._stt_busy = False  # stt_final is running: the recogniser must not be touched
        self._deferred_start: float | None = None
        # Reply in progress
        self._outgoing: deque[AgentFrame] = deque()
        self._sentences: tuple[str, ...] = ()
        self._next_sentence = 0
        self._synthesising = False
        self._understanding: Any = None
        self._chunks: Any = None
        self._reply: Any = None
        self._more: Any = None  # the rest of a streamed reply, sentence by sentence
        self._sentence_origin: list[int] = []
        self._snapshot: tuple[int, Any] | None = None  # (turn, conversation before its reply)
        self._carry_text: str | None = None  # an unfinished utterance to merge with the next
        self._filler_frames = speech.filler_frames(self.settings.filler_text)
        self._filler_played = False
        self._last_agent_audio_end: float | None = None
        self._end_after_speaking = False
        # Talking over the agent
        self.judge = InterruptionJudge()
        self._overlap: _Overlap | None = None  # the caller's utterance began while the agent spoke
        self._acknowledgement_end: float | None = None  # the last one said over the agent
        self._sent: tuple[int, int, float] | None = None  # (turn, sentence, progress) last sent
        self._piece_sent: list[AgentFrame] = []  # the sentence (or clause) in progress, so far
        self._heard: tuple[int, int, float] | None = None  # ... last heard, from the transport
        self._cancelled: set[int] = set()  # work ids whose results are no longer wanted
        self._interrupted: tuple[tuple[str, ...], int] | None = None  # sentences, cut index
        self.false_interruptions = 0
        self.barge_ins = 0
        self._rephrasing = False  # a rephrased resume is being synthesised: hold the audio
        self._rephrase_target: tuple[int, int, str] = (0, 0, "")

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
        out.append(self._work("respond", 0, lambda: self.agent.greet(self.conversation)))
        return out

    def on_caller_frame(self, t_ms: float, ulaw: bytes) -> list[Output]:
        if self.ended:
            return []
        out: list[Output] = []
        pcm = ulaw_decode(ulaw)
        pcm16k = self._upsampler.process(pcm)
        # The frame is whole when it reaches us, so it covers the 20 ms that end now.
        vad_event = self.vad.process(pcm, t_ms - FRAME_MS)
        if self._onset is not None:  # (every frame: its noise floor must know the line)
            self._onset.process(pcm, t_ms - FRAME_MS)
        frame_end = t_ms
        is_speech_frame = self._is_speech_frame(pcm)
        if isinstance(vad_event, VadSpeechStart) and not self._in_utterance and is_speech_frame:
            # (webrtcvad alone also starts on babble and hum: the frame must stand above the
            # line's noise floor too, else the start waits for one that does, below.)
            self._deferred_start = vad_event.t_ms
        elif isinstance(vad_event, VadSpeechEnd) and not self._in_utterance:
            self._deferred_start = None
        elif (
            is_speech_frame
            and not self._in_utterance
            and self._deferred_start is None
            and self.vad.is_speech
        ):
            # The turn was ended on a pause the VAD had not yet confirmed as silence, and the
            # caller went on speaking: no new start event will come, so this is the start.
            self._deferred_start = t_ms - FRAME_MS
        if self._deferred_start is not None and not self._stt_busy and not self._in_utterance:
            # (While the recogniser finalises the previous utterance on a worker thread it must
            # not be touched: the audio waits in the pre-roll and the utterance begins after.)
            started, self._deferred_start = self._deferred_start, None
            out += self._begin_utterance(started)
        if self._in_utterance:
            if is_speech_frame:
                self._speech_ms += FRAME_MS
                self._last_speech_end = frame_end
            partial = self.recognizer.feed(pcm16k)
            if self.final_pass is not None:
                out += self._final_pass_frame(frame_end, pcm16k, is_speech_frame)
            if partial is not None and partial != self._partial:
                self._partial = partial
                out.append(ev.PartialTranscript(self.call_id, frame_end, text=partial))
            overlap = self._overlap
            if overlap is not None and not overlap.stopped_agent and self.state == "speaking":
                if (
                    self._onset is not None
                    and overlap.paused_at is None
                    and overlap.capped_at is None
                    and self._onset.is_speech
                ):
                    overlap.paused_at = frame_end  # go quiet now, decide what it was later
                    out.append(
                        ev.AgentPaused(
                            self.call_id,
                            frame_end,
                            turn=overlap.agent_turn,
                            onset_ms=overlap.started_at,
                        )
                    )
                judgement = self.judge.judge(
                    self._partial,
                    self._speech_ms,
                    after_acknowledgement_ms=overlap.after_acknowledgement_ms,
                )
                paused = overlap.paused_at is not None
                if judgement.verdict == "barge_in" and (
                    not paused
                    or self._speech_ms >= self.judge.max_backchannel_ms
                    or overlap.after_acknowledgement_ms is not None
                    or judgement.reason.startswith("stop word")
                ):
                    out += self._stop_for_barge_in(frame_end, judgement.reason)
                elif judgement.verdict == "barge_in":
                    # Paused, the agent is quiet already: a short sound's content words wait
                    # for its final words (the streaming recogniser hears "mm-hmm" as "anna
                    # my"); they mean the caller's turn has begun if the pause reaches its cap.
                    overlap.turn_begun = judgement.reason
            if isinstance(vad_event, VadSpeechEnd):
                out.append(ev.CallerSpeechEnded(self.call_id, vad_event.t_ms))
            if not is_speech_frame and self._last_speech_end is not None:
                silence = frame_end - self._last_speech_end
                decision = self.endpointer.decide(silence, self._endpoint_words())
                if (
                    decision is None
                    and overlap is not None
                    and overlap.paused_at is not None
                    and not overlap.stopped_agent
                ):
                    decision = self._paused_endpoint(silence)
                if decision is not None:
                    out += self._end_utterance(frame_end, decision)
        else:
            self._preroll.append(pcm16k)
            if (
                self.state == "listening"
                and self._last_agent_audio_end is not None
                and frame_end - self._last_agent_audio_end >= self.settings.no_input_timeout_ms
            ):
                out += self._no_input(frame_end)
        overlap = self._overlap
        if (
            overlap is not None
            and overlap.paused_at is not None
            and not overlap.stopped_agent
            and frame_end - overlap.paused_at >= self.settings.pause_cap_ms
        ):
            # (while the caller speaks, or while its words are still being recognised)
            if overlap.turn_begun:  # the caller's turn has begun: yield, do not resume
                out += self._stop_for_barge_in(frame_end, overlap.turn_begun)
            else:
                out += self._resume(frame_end, overlap, "the pause reached its cap")
                overlap.capped_at = frame_end
        return out

    def on_stage_done(self, t_ms: float, work_id: int, result: Any) -> list[Output]:
        work = self._pending.pop(work_id, None)
        if work is None or self.ended or work_id in self._cancelled:
            self._cancelled.discard(work_id)
            return []
        handler = getattr(self, f"_on_{work.stage}_done")
        return handler(t_ms, work, result)

    # ------------------------------------------------------------------ the accurate ear

    def _final_pass_frame(self, t_ms: float, pcm16k: np.ndarray, speech: bool) -> list[Output]:
        """Keep the utterance's audio; start the pass early in a silence, drop it if the
        caller goes on (its words would miss the rest)."""
        self._audio.append(pcm16k)
        self._audio_samples += len(pcm16k)
        if speech:
            self._speech_samples = self._audio_samples
        current = self._pass
        if speech and current is not None and current.awaited is None:
            self._discard_final_pass(t_ms, "the caller went on")
            return [ev.FinalPassDiscarded(self.call_id, t_ms, reason="the caller went on")]
        if (
            not speech
            and current is None
            and self.settings.speculative_final_pass
            and self._last_speech_end is not None
            and self._speech_ms >= self.settings.min_utterance_ms
            and t_ms - self._last_speech_end >= self._final_pass_start_ms()
        ):
            return self._start_final_pass()
        return []

    def _final_pass_start_ms(self) -> float:
        """How far into a silence the speculative final pass starts."""
        expected = self.endpointer.wait_ms(self._partial) - self.settings.final_pass_lead_ms
        expected = min(expected, self.settings.final_pass_latest_ms)
        return max(self.settings.final_pass_after_ms, expected)

    def _endpoint_words(self) -> str:
        """The words the endpointer judges: the final pass's once it has heard all the speech
        so far (they are the better words), else the streaming partial."""
        final = self._pass
        if (
            final is not None
            and final.done
            and final.result is not None
            and not final.carried
            and final.samples >= self._speech_samples
        ):
            return final.result.text
        return self._partial

    def _start_final_pass(self) -> list[Output]:
        """Run the final pass over the utterance's audio so far (and any carried before it)."""
        chunks = self._carry_audio + self._audio
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        final_pass = self.final_pass
        assert final_pass is not None
        dropped = threading.Event()
        context = self._heard_context()

        def run() -> Transcript | None:
            # A pass discarded before its turn came is not run at all (`skip`: live calls
            # queue their passes; running stale ones starved the wanted ones).
            return final_pass.transcribe(audio, skip=dropped.is_set, context=context)

        work = self._work("stt_pass", self.current_turn, run)
        self._pass = _FinalPass(
            work.work_id,
            self._audio_samples,
            chunks,
            carried=bool(self._carry_audio),
            dropped=dropped,
        )
        return [work]

    def _heard_context(self) -> str:
        """What the caller last heard the agent say (its last `CONTEXT_SENTENCES` sentences),
        the context the final pass hears the caller's answer in."""
        said = [text for who, text in self.transcript if who == "agent"]
        return " ".join(said[-CONTEXT_SENTENCES:])

    def _discard_final_pass(self, t_ms: float, why: str) -> None:
        if self._pass is None:
            return
        self._cancelled.add(self._pass.work_id)
        self._pass.dropped.set()
        record = self.turns.get(self.current_turn)
        if record is not None:
            record.notes.append(f"final pass discarded at {t_ms:.0f} ms: {why}")
        self._pass = None

    def _await_final_pass(self, t_ms: float, turn: int) -> list[Output]:
        """The endpoint is decided: the turn's words are the final pass's, when it is done."""
        out: list[Output] = []
        stale = self._pass is not None and (
            self._pass.samples < self._speech_samples
            or self._pass.carried != bool(self._carry_audio)
        )
        if stale:
            self._discard_final_pass(t_ms, "it missed part of the speech")
        if self._pass is None:
            out += self._start_final_pass()
        assert self._pass is not None
        self._pass.awaited = (t_ms, turn)
        return out  # the words are ready once the pass and the streaming close are done

    def _on_stt_pass_done(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        final = self._pass
        if final is None or final.work_id != work.work_id:
            return []
        final.result = transcript
        final.done = True
        if final.awaited is None or self._stt_busy:
            return []  # the endpoint is not decided, or the streaming ear not closed, yet
        return self._final_words_ready(t_ms)

    def _final_words_ready(self, t_ms: float) -> list[Output]:
        final, self._pass = self._pass, None
        assert final is not None and final.awaited is not None
        endpoint_at, turn = final.awaited
        self._carry_audio = []
        self._heard_audio = final.audio  # heard again if the caller turns out to go on
        self._words_include_carry = final.carried
        transcript = final.result
        streaming = self._streaming_text
        if transcript is None:  # the pass failed: the streaming recogniser's words will do
            transcript = streaming
        elif not final.carried:  # (the streaming pass heard the latest utterance only)
            transcript = reconcile(transcript, streaming, BACKCHANNEL_TOKENS)
        work = StageWork(0, "stt_pass", turn, lambda: None)
        return self._on_caller_words(max(t_ms, endpoint_at), work, transcript)

    def _on_stt_close_done(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        """The streaming recogniser has closed the utterance; it may take the next utterance
        now, and the turn's words may be ready."""
        self._stt_busy = False
        self._streaming_text = transcript
        final = self._pass
        if final is None or final.awaited is None:
            return []
        if self._overlap is not None and transcript is not None:
            # Said over the agent: the interruption judge decides on the streaming words (as
            # on its partials), at once. An acknowledgement needs no final pass; waiting for
            # one left "Yeah, | but…" unsettled when "but" began, and the judge lost the cue.
            verdict = self.judge.judge_final(
                transcript.text, self._speech_ms, transcript.confidence
            ).verdict
            if verdict in ("backchannel", "noise"):
                turn = final.awaited[1]
                self._discard_final_pass(t_ms, f"a {verdict}: the streaming words decided")
                return self._on_caller_words(
                    t_ms, StageWork(0, "stt_close", turn, _none), transcript
                )
        if final.done:
            return self._final_words_ready(t_ms)
        return []

    def on_stage_failed(self, t_ms: float, work_id: int, error: BaseException) -> list[Output]:
        work = self._pending.pop(work_id, None)
        if work is None or self.ended:
            return []
        message = f"{type(error).__name__}: {error}".splitlines()[0]
        log.warning("call %s: stage %s failed: %s", self.call_id, work.stage, message)
        out: list[Output] = [ev.StageFailed(self.call_id, t_ms, stage=work.stage, error=message)]
        record = self.turns[work.turn]
        record.notes.append(f"{work.stage} failed: {message}")
        if work.stage == "stt_final":
            out += self._on_stt_final_done(t_ms, work, None)
        elif work.stage == "stt_close":
            out += self._on_stt_close_done(t_ms, work, None)
        elif work.stage == "stt_pass":
            out += self._on_stt_pass_done(t_ms, work, None)
        elif work.stage in ("classify", "retrieve"):
            # Answer without what failed: () is "known to be missing", unlike None ("pending").
            setattr(self, "_understanding" if work.stage == "classify" else "_chunks", ())
            out += self._maybe_respond(t_ms, work.turn)
        elif work.stage == "respond":
            out += self._speak(t_ms, work.turn, _fallback_reply(self.agent))
        elif work.stage == "respond_more":  # the stream broke off: say what was said so far
            self._more = None
            self._synthesising = False
        elif work.stage == "tts_rephrase":  # go on without the rephrased rest
            self._rephrasing = False
        elif work.stage == "tts_sentence":
            self._synthesising = False
            self._next_sentence = len(self._sentences)  # give up on the rest of this reply
        return out

    def pull_agent_frame(self, t_ms: float) -> tuple[AgentFrame | None, list[Output]]:
        """The 20 ms output clock ticked: the frame to send now (or None) and any events."""
        if self.ended:
            return None, []
        out: list[Output] = []
        record = self.turns.get(self.current_turn)
        if (
            self.state == "thinking"
            and not self._outgoing
            and not self._filler_played
            and record is not None
            and record.endpoint_at is not None
            and self.current_turn > 0
            and t_ms - record.endpoint_at >= self.settings.filler_after_ms
            and self._filler_frames
        ):
            self._filler_played = True
            record.notes.append(
                f"filler {self.settings.filler_text!r} at +{t_ms - record.endpoint_at:.0f} ms"
            )
            self._queue_frames(
                self._filler_frames, self.current_turn, "filler", -1, self.settings.filler_text
            )
            out.append(
                ev.FillerStarted(
                    self.call_id,
                    t_ms,
                    turn=self.current_turn,
                    text=self.settings.filler_text,
                    expected_wait_ms=t_ms - record.endpoint_at,
                )
            )
        if not self._outgoing:
            return None, out
        if self._overlap is not None and self._overlap.paused_at is not None:
            return None, out  # paused while the caller speaks ("pause" interruption mode)
        if self._rephrasing:
            return None, out  # "As I was saying, …" is being synthesised: it goes first
        frame = self._outgoing.popleft()
        if frame.kind == "speech":
            if self._sent is None or self._sent[:2] != (frame.turn, frame.sentence_index):
                self._piece_sent = []
            self._piece_sent.append(frame)
            self._sent = (frame.turn, frame.sentence_index, frame.progress)
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
            line = ("agent", display_text(frame.text))
            self.transcript.append(line)
            self._sentence_lines[(frame.turn, frame.sentence_index)] = line
        if not self._outgoing and not self._synthesising and self.state == "speaking":
            out += self._finished_speaking(t_ms, frame.turn)
        return frame, out

    def on_audio_heard(
        self, t_ms: float, turn: int, sentence_index: int, progress: float
    ) -> list[Output]:
        """The transport knows the caller played agent audio up to here (a Twilio mark echo)."""
        self._heard = (turn, sentence_index, progress)
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
        self._last_agent_audio_end = t_ms  # a key press is input: the no-input timer restarts
        reply = on_dtmf(self.conversation, digit)  # cheap: collecting digits
        if reply is None:
            return out
        self.current_turn += 1
        turn = self.current_turn
        self.turns[turn] = TurnRecord(turn=turn, endpoint_at=t_ms, endpoint_label="keypad entry")
        if self.state == "speaking":
            self._outgoing.clear()
            self._next_sentence = len(self._sentences)
        self.state = "thinking"
        self._filler_played = False
        return out + [self._work("respond", turn, lambda: reply)]

    def hang_up(self, t_ms: float, reason: str = "caller_hung_up") -> list[Output]:
        if self.ended:
            return []
        return self._end(t_ms, reason)

    # ------------------------------------------------------------------ turn logic

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
        if not self._in_utterance:
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

    def _begin_utterance(self, started_at: float) -> list[Output]:
        self._in_utterance = True
        self._utterance_started_at = started_at
        self._speech_ms = self.settings.vad_start_ms  # the run that confirmed the start
        self._last_speech_end = None
        self._partial = ""
        self._overlap = None
        out: list[Output] = []
        awaiting_words = self._pass is not None and self._pass.awaited is not None
        if (
            self.state == "thinking"
            and self.current_turn > 0
            and (self._carry_text is None or awaiting_words)
        ):
            out += self._continue_previous_turn(started_at, "the caller went on before the reply")
        if self.state == "speaking" and self.settings.barge_in:
            started_speaking = self.turns[self.current_turn].first_frame_sent_at or started_at
            self._overlap = _Overlap(started_at, self.current_turn, started_at - started_speaking)
            acknowledged = self._acknowledgement_end
            if acknowledged is not None and started_at - acknowledged <= self.settings.follow_on_ms:
                self._overlap.after_acknowledgement_ms = max(0.0, started_at - acknowledged)
            self.judge.reset()
        self._acknowledgement_end = None
        self.recognizer.begin_utterance()
        for chunk in self._preroll:
            self.recognizer.feed(chunk)
        if self.final_pass is not None:
            if self._pass is not None and self._pass.awaited is not None:
                self._carry_audio = self._carry_audio + self._audio  # not heard yet: hear again
            self._discard_final_pass(started_at, "a new utterance began")
            self._audio = list(self._preroll)
            self._audio_samples = self._speech_samples = sum(len(c) for c in self._audio)
        self._preroll.clear()
        return [*out, ev.CallerSpeechStarted(self.call_id, started_at)]

    def _end_utterance(self, t_ms: float, decision: Any) -> list[Output]:
        self._in_utterance = False
        self._deferred_start = None
        if self._speech_ms < self.settings.min_utterance_ms:
            self.recognizer.end_utterance()  # noise: discard
            self._discard_final_pass(t_ms, "the utterance was noise")
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
        if (
            self._overlap is not None
            and not self._overlap.stopped_agent
            and self.state == "speaking"
        ):
            # Spoken over the agent and not judged an interruption yet: let the final
            # transcript decide, while the agent keeps talking.
            self._overlap.speech_ended_at = self._last_speech_end
            return out + self._finish_recognising(t_ms, self.current_turn)
        if self.state in ("thinking", "speaking"):
            # A turn is still in progress: finish recognising now, answer after it.
            self._discard_final_pass(t_ms, "queued behind the turn in progress")
            transcript = self.recognizer.end_utterance()
            self._queued_utterances.append((t_ms, transcript.text))
            return out
        self.current_turn += 1
        turn = self.current_turn
        self.turns[turn] = TurnRecord(turn=turn, endpoint_at=t_ms, endpoint_label=decision.label)
        self.state = "thinking"
        self._filler_played = False
        return out + self._finish_recognising(t_ms, turn)

    def _finish_recognising(self, t_ms: float, turn: int) -> list[Output]:
        """The endpoint is decided: close the streaming recogniser's utterance; the fast ear
        answers with its words, the accurate ear with its final pass's."""
        self._stt_busy = True
        if self.final_pass is None:
            return [self._work("stt_final", turn, self.recognizer.end_utterance)]
        self._streaming_text = None
        close = self._work("stt_close", turn, self.recognizer.end_utterance)
        return [close, *self._await_final_pass(t_ms, turn)]

    def _on_stt_final_done(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        self._stt_busy = False
        return self._on_caller_words(t_ms, work, transcript)

    def _on_caller_words(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        """The caller's utterance is recognised (by either ear): judge an overlap, or answer."""
        overlap, self._overlap = self._overlap, None
        if overlap is not None:
            text = transcript.text if transcript is not None else ""
            confidence = transcript.confidence if transcript is not None else 0.0
            judgement = self.judge.judge_final(text, self._speech_ms, confidence)
            if not overlap.stopped_agent:
                return self._settle_overlap(t_ms, work, transcript, overlap, judgement)
            if judgement.verdict in ("backchannel", "noise") and self._carry_text is None:
                return self._false_interruption(t_ms, work, text, judgement)
        return self._answer_transcript(t_ms, work.turn, transcript)

    def _stt_lane(self) -> str:
        """The waterfall lane from the endpoint to the words the agent understands."""
        return self.settings.final_pass_lane if self.final_pass is not None else "STT finalisation"

    def _answer_transcript(self, t_ms: float, turn: int, transcript: Any) -> list[Output]:
        """A caller utterance of `turn` is recognised: understand it (and then answer it)."""
        work = StageWork(0, "stt_final", turn, lambda: None)
        record = self.turns[work.turn]
        record.checkpoints.append((self._stt_lane(), "stage", t_ms))
        text = transcript.text if transcript is not None else ""
        if self._carry_text:
            # The previous turn was not over: answer everything the caller said at once (the
            # accurate ear heard both utterances' audio in one pass: its words are whole).
            record.notes.append(f"continues the previous utterance {self._carry_text!r}")
            if not self._words_include_carry:
                text = f"{self._carry_text} {text}".strip()
                # The audio last heard holds the new words only: should the caller go on
                # again, the pass must not hear it as the whole turn ("…how much does it cost
                # and are you open on Christmas" lost "what are your opening hours").
                self._heard_audio = []
        self._carry_text = None
        self._words_include_carry = False
        record.caller_text = text
        out: list[Output] = []
        if transcript is not None:
            out.append(
                ev.FinalTranscript(
                    self.call_id,
                    t_ms,
                    text=text,
                    confidence=transcript.confidence,
                    words=tuple((w.word, w.start_ms, w.end_ms) for w in transcript.words),
                    ear=self.settings.ear,
                    # What the streaming pass heard of this utterance: its closed transcript
                    # (the accurate ear waits for it), else its last partial.
                    streaming_text=(
                        self._streaming_text.text
                        if self.final_pass is not None and self._streaming_text is not None
                        else self._partial
                    ),
                )
            )
        if not text.strip():
            if self._speech_ms >= REPROMPT_SPEECH_MS:
                # Speech that yields no words (babble, a bad line) ends in a re-prompt: a
                # caller who spoke must hear something, never silence.
                record.notes.append(f"{self._speech_ms:.0f} ms of speech, no words: re-prompt")
                if hasattr(self.conversation, "reprompt_count"):
                    self.conversation.reprompt_count += 1
                return out + self._speak(t_ms, turn, _no_words_reply(self.agent))
            record.notes.append("nothing recognised: back to listening")
            self.state = "listening"
            return out
        self.transcript.append(("caller", text))
        self._understanding = None
        self._chunks = None
        out.append(self._work("classify", work.turn, lambda: self.agent.understand(text)))
        out.append(self._work("retrieve", work.turn, lambda: self.agent.retrieve(text)))
        return out

    def _on_classify_done(self, t_ms: float, work: StageWork, understanding: Any) -> list[Output]:
        self._understanding = understanding
        record = self.turns[work.turn]
        record.understanding = understanding
        out: list[Output] = [
            ev.TopicDecided(
                self.call_id,
                t_ms,
                turn=work.turn,
                topic=understanding.topic,
                confidence=understanding.confidence,
                runner_up=understanding.runner_up,
                runner_up_confidence=understanding.runner_up_confidence,
                entities=tuple(
                    {"type": e.type, "value": e.value, "start": e.start, "end": e.end}
                    for e in understanding.entities
                ),
            )
        ]
        return out + self._maybe_respond(t_ms, work.turn, finished="topic classification")

    def _on_retrieve_done(self, t_ms: float, work: StageWork, chunks: Any) -> list[Output]:
        self._chunks = tuple(chunks)
        record = self.turns[work.turn]
        record.chunks = self._chunks
        out: list[Output] = [
            ev.KnowledgeRetrieved(
                self.call_id,
                t_ms,
                turn=work.turn,
                chunks=tuple(
                    {"source": c.source, "heading": c.heading, "text": c.text, "score": c.score}
                    for c in self._chunks
                ),
            )
        ]
        return out + self._maybe_respond(t_ms, work.turn, finished="retrieval")

    def _maybe_respond(self, t_ms: float, turn: int, finished: str = "") -> list[Output]:
        if self._understanding is None or self._chunks is None:
            return []
        record = self.turns[turn]
        # Classification and retrieval ran in parallel; the one that finished last owns the lane.
        record.checkpoints.append((f"understanding: {finished} (parallel)", "stage", t_ms))
        understanding, chunks, text = self._understanding, list(self._chunks), record.caller_text
        if not understanding:
            return self._speak(t_ms, turn, _fallback_reply(self.agent))
        # The conversation as it was before this reply, in case the caller turns out not to
        # have finished (see _continue_previous_turn).
        self._snapshot = (turn, copy.deepcopy(self.conversation))
        conversation = self.conversation
        return [
            self._work(
                "respond",
                turn,
                lambda: self.responder.reply(conversation, text, understanding, chunks),
            )
        ]

    def _on_respond_done(self, t_ms: float, work: StageWork, reply: Any) -> list[Output]:
        return self._speak(t_ms, work.turn, reply)

    def _speak(self, t_ms: float, turn: int, reply: Any) -> list[Output]:
        record = self.turns[turn]
        record.checkpoints.append(("response" if turn else "greeting response", "stage", t_ms))
        record.reply = reply
        record.agent_sentences = tuple(reply.sentences)
        self._reply = reply
        spoken = [(i, s) for i, s in enumerate(reply.sentences) if s.strip()]
        # The first sentence is voiced clause by clause: the caller hears the reply as soon as
        # its first few words are synthesised, not its whole first sentence.
        pieces: list[tuple[int, str]] = []
        for position, (index, sentence) in enumerate(spoken):
            parts = self.speech.first_pieces(sentence) if position == 0 else [sentence]
            pieces += [(index, part) for part in parts]
        self._sentences = tuple(part for _, part in pieces)
        self._sentence_origin = [index for index, _ in pieces]  # piece -> reply sentence
        # A streamed reply carries the rest of its sentences as an iterator (`more`).
        self._more = getattr(reply, "more", None)
        self._next_sentence = 0
        out: list[Output] = [
            ev.ResponseStarted(
                self.call_id,
                t_ms,
                turn=turn,
                sentences=self._sentences,
                plan=reply.plan,
                routing=reply.routing,
                actions=tuple(
                    {"kind": a.kind, "params": dict(a.params), "result": dict(a.result)}
                    for a in reply.actions
                ),
            )
        ]
        if reply.routing == "human":
            summary = getattr(self.conversation, "escalation_summary", "") or ""
            escalate = next((a for a in reply.actions if a.kind == "escalate"), None)
            params = dict(escalate.params) if escalate is not None else {}
            out.append(
                ev.HandoffRequested(
                    self.call_id,
                    t_ms,
                    queue=str(params.get("queue", "Reception")),
                    reason=str(params.get("reason", reply.plan)),
                    summary=str(params.get("summary", summary)),
                )
            )
        if reply.routing is not None:
            self.routing = reply.routing
        self._end_after_speaking = bool(reply.end_call or reply.routing == "human")
        if not self._sentences:
            self.state = "listening"
            self._last_agent_audio_end = t_ms  # the no-input timer runs from here
            return out
        self.state = "speaking"
        out += self._synthesise_next(turn)
        return out

    def _synthesise_next(self, turn: int) -> list[Output]:
        if self._next_sentence >= len(self._sentences):
            if self._more is not None:
                # A streamed reply (an LLM's): fetch its next sentence as it is produced.
                more = self._more
                self._synthesising = True
                return [self._work("respond_more", turn, lambda: next(more, None))]
            self._synthesising = False
            return []
        index = self._next_sentence
        sentence = self._sentences[index]
        self._next_sentence += 1
        self._synthesising = True
        render = self.speech.render_agent_speech
        work = self._work(
            "tts_sentence",
            turn,
            lambda: render(sentence, first=index == 0),
            tokens=len(sentence.split()),
        )
        return [work]

    def _on_tts_sentence_done(self, t_ms: float, work: StageWork, ulaw: bytes) -> list[Output]:
        record = self.turns[work.turn]
        index = self._next_sentence - 1
        if index == 0:
            record.checkpoints.append(("TTS first sentence", "stage", t_ms))
        frames = list(iter_frames(ulaw))
        self._queue_frames(frames, work.turn, "speech", index, self._sentences[index])
        return self._synthesise_next(work.turn)

    def _on_respond_more_done(self, t_ms: float, work: StageWork, sentence: Any) -> list[Output]:
        if sentence is None:  # the stream has ended
            self._more = None
            self._synthesising = False
            return []
        if not str(sentence).strip():
            return self._synthesise_next(work.turn)
        self._sentences = (*self._sentences, str(sentence))
        self._sentence_origin.append(self._sentence_origin[-1] + 1 if self._sentence_origin else 0)
        self.turns[work.turn].agent_sentences = self._sentences
        return self._synthesise_next(work.turn)

    def _queue_frames(
        self, frames: list[bytes], turn: int, kind: str, index: int, text: str
    ) -> None:
        count = len(frames)
        for i, payload in enumerate(frames):
            self._outgoing.append(AgentFrame(payload, turn, kind, index, text, (i + 1) / count))

    def _finished_speaking(self, t_ms: float, turn: int) -> list[Output]:
        """The last frame of the reply left at `t_ms`; its audio ends a frame later."""
        self._last_agent_audio_end = t_ms + FRAME_MS
        out: list[Output] = [
            ev.AgentAudioStopped(self.call_id, t_ms + FRAME_MS, turn=turn, reason="finished")
        ]
        if self._end_after_speaking:
            reason = (
                "handoff"
                if self._reply is not None and self._reply.routing == "human"
                else "agent_ended"
            )
            return out + self._end(t_ms, reason)
        self.state = "listening"
        if self._queued_utterances:
            _, text = self._queued_utterances.popleft()
            self.current_turn += 1
            turn = self.current_turn
            self.turns[turn] = TurnRecord(
                turn=turn, endpoint_at=t_ms, endpoint_label="queued utterance"
            )
            self.state = "thinking"
            out += self._answer_transcript(t_ms, turn, Transcript(text, (), 0.0))
        return out

    # ------------------------------------------------------------------ interruptions

    def _continue_previous_turn(self, t_ms: float, why: str) -> list[Output]:
        """The caller spoke again before the reply to its last utterance was heard: drop that
        reply (its pending stages, the conversation changes) and answer both utterances as one."""
        turn = self.current_turn
        record = self.turns.get(turn)
        final = self._pass
        if final is not None and final.awaited is not None and final.awaited[1] == turn:
            # Its words are not heard yet: hear both utterances together in the next pass.
            self._carry_audio = self._carry_audio + self._audio
            self._discard_final_pass(t_ms, why)
            if record is not None:
                record.notes.append(f"turn dropped before its words: {why}")
            self.state = "listening"
            return []
        if record is None or record.first_frame_sent_at is not None or not record.caller_text:
            return []
        for work_id, work in self._pending.items():
            if work.turn == turn:
                self._cancelled.add(work_id)
        self._outgoing.clear()
        self._next_sentence = len(self._sentences)
        self._synthesising = False
        self._more = None
        if self._snapshot is not None and self._snapshot[0] == turn:
            self._restore_snapshot(record, why)
        else:
            self._carry(record)
            record.notes.append(f"reply dropped: {why}")
        self.state = "listening"
        return []

    def _restore_snapshot(self, record: TurnRecord, why: str) -> None:
        assert self._snapshot is not None
        self.conversation = self._snapshot[1]
        self._snapshot = None
        self._carry(record)
        if self.transcript and self.transcript[-1] == ("caller", record.caller_text):
            self.transcript.pop()  # it is said again, merged, with the next utterance
        record.notes.append(f"reply withdrawn: {why}")

    def _carry(self, record: TurnRecord) -> None:
        """Answer the turn's words together with the caller's next utterance."""
        self._carry_text = record.caller_text
        if self.final_pass is not None:
            self._carry_audio = list(self._heard_audio)  # the pass hears both together

    def _text_heard(self) -> tuple[str, int, float, str]:
        """The agent's words the caller has heard in the current reply, where it was cut, and
        the words heard of the sentence it was cut in ("" when cut before its first word)."""
        position = self._heard if self._heard is not None else self._sent
        if position is None or position[0] != self.current_turn:
            return "", 0, 0.0, ""
        _, index, progress = position
        if index < 0 or index >= len(self._sentences):
            return "", 0, 0.0, ""
        words = display_text(self._sentences[index]).split()
        cut = " ".join(words[: int(round(len(words) * progress))])
        heard = [display_text(s) for s in self._sentences[:index]] + ([cut] if cut else [])
        return " ".join(heard), index, progress, cut

    def _take_back_unheard(self, turn: int, first: int) -> None:
        """Drop from the transcript the sentences of `turn` from `first` on: sent whole, but
        the caller never heard them (over Twilio, a `clear` dropped them from its buffer)."""
        for (t, index), line in list(self._sentence_lines.items()):
            if t == turn and index >= first:
                del self._sentence_lines[(t, index)]
                at = next((i for i, kept in enumerate(self.transcript) if kept is line), None)
                if at is not None:
                    del self.transcript[at]

    def _stop_for_barge_in(self, t_ms: float, reason: str) -> list[Output]:
        """Stop talking now: drop queued audio (Twilio's `clear`), keep what was heard."""
        overlap = self._overlap
        assert overlap is not None
        overlap.stopped_agent = True
        overlap.reason = reason
        self.barge_ins += 1
        t_ms = overlap.paused_at if overlap.paused_at is not None else t_ms  # when it went quiet
        heard, index, progress, cut = self._text_heard()
        self._interrupted = (self._sentences, index)
        record = self.turns[overlap.agent_turn]
        first_sent = record.first_frame_sent_at
        # (a reply not sent at all yet counts too: "pause" mode stops before its first frame)
        continuation = (
            (first_sent is None or overlap.started_at - first_sent <= self.settings.continuation_ms)
            and overlap.agent_turn == self.current_turn
            and self._snapshot is not None
            and self._snapshot[0] == overlap.agent_turn
        )
        on_interrupted = getattr(self.agent, "on_interrupted", None)
        if continuation:
            # The reply had barely begun: the caller was still finishing. Take the reply back
            # and answer the whole utterance (e.g. a second question after a pause).
            self._restore_snapshot(record, "the caller went on as the reply began")
        elif on_interrupted is not None:  # e.g. unheard answers to questions stay pending
            pending = getattr(self.conversation, "pending_questions", None)
            self._pending_before_barge_in = list(pending) if pending is not None else None
            origin = self._sentence_origin
            on_interrupted(self.conversation, origin[index] if index < len(origin) else index)
        self._outgoing.clear()
        self._cancelled.update(
            w for w, work in self._pending.items() if work.stage in ("tts_sentence", "tts_rephrase")
        )
        self._rephrasing = False
        self._synthesising = False
        self._next_sentence = len(self._sentences)
        self._more = None
        self._end_after_speaking = False
        self._last_agent_audio_end = t_ms
        self.state = "listening"
        if overlap.agent_turn == self.current_turn:  # (the turn `_text_heard` speaks of)
            self._take_back_unheard(overlap.agent_turn, index + 1 if progress >= 1.0 else index)
        if cut and progress < 1.0:  # (whole sentences heard are in the transcript already)
            self.transcript.append(("agent", cut + " —"))
        record = self.turns[overlap.agent_turn]
        record.notes.append(f"barge-in at {t_ms:.0f} ms ({reason}); heard: {heard!r}")
        return [
            ev.AgentAudioStopped(
                self.call_id, t_ms, turn=overlap.agent_turn, reason="interrupted", text_heard=heard
            ),
            ev.Interruption(
                self.call_id,
                t_ms,
                kind="barge_in",
                text=self._partial,
                stopped_agent=True,
                false_interruption=False,
            ),
        ]

    def _rewind_to_word_start(self) -> tuple[float, str]:
        """After a pause, go back to the start of the word the pause cut (the last quiet
        frame between words in the sentence so far), so the caller hears it whole, once.
        Returns the audio played again (ms) and the sentence it resumes in."""
        outgoing = self._outgoing
        if not outgoing or outgoing[0].kind != "speech":
            return 0.0, ""
        upcoming = outgoing[0]
        frames = self._piece_sent
        cut = frames and (frames[-1].turn, frames[-1].sentence_index) == (
            upcoming.turn,
            upcoming.sentence_index,
        )
        if not cut:  # the pause fell between sentences
            return 0.0, display_text(upcoming.text)
        start = word_start([frame.payload for frame in frames])
        again = frames[start:]
        outgoing.extendleft(reversed(again))
        del frames[start:]
        return float(FRAME_MS * len(again)), display_text(upcoming.text)

    def _paused_endpoint(self, silence_ms: float) -> Any:
        """While the agent is paused for the caller, a short sound ends sooner: the caller
        hears silence until its words are judged (the resume gap), and an acknowledgement
        ("mm-hmm") is short; a caller who goes on is heard as going on after it."""
        wait = self.settings.paused_endpoint_ms
        if silence_ms + 1e-9 < wait or self._speech_ms >= self.judge.max_backchannel_ms:
            return None
        return EndpointDecision(
            silence_ms,
            wait,
            f"endpointing wait [paused: {wait:.0f} ms]",
            f"{silence_ms:.0f} ms of silence while the agent is paused",
        )

    def _resume(self, t_ms: float, overlap: _Overlap, why: str) -> list[Output]:
        """Go on with the paused reply: from the start of the cut word, or, after a long pause
        under the "rephrase" policy, with "As I was saying, " and the rest of the sentence."""
        assert overlap.paused_at is not None
        paused_ms = t_ms - overlap.paused_at
        overlap.paused_at = None
        record = self.turns[overlap.agent_turn]
        rephrase = (
            self.settings.resume_policy == "rephrase"
            and paused_ms >= self.settings.rephrase_after_ms
        )
        if rephrase:
            work, sentence = self._rephrase_cut_sentence(overlap.agent_turn)
            if work is not None:
                record.notes.append(f"paused {paused_ms:.0f} ms ({why}); rephrasing {sentence!r}")
                return [
                    work,
                    ev.AgentResumed(
                        self.call_id,
                        t_ms,
                        turn=overlap.agent_turn,
                        paused_ms=paused_ms,
                        text=sentence,
                        rephrased=True,
                    ),
                ]
        rewound_ms, sentence = self._rewind_to_word_start()
        record.notes.append(
            f"paused {paused_ms:.0f} ms ({why}); resumed {rewound_ms:.0f} ms back in {sentence!r}"
        )
        return [
            ev.AgentResumed(
                self.call_id,
                t_ms,
                turn=overlap.agent_turn,
                paused_ms=paused_ms,
                rewound_ms=rewound_ms,
                text=sentence,
            )
        ]

    def _rephrase_cut_sentence(self, turn: int) -> tuple[StageWork | None, str]:
        """Replace the unheard rest of the cut sentence by "As I was saying, <the rest>",
        synthesised anew; its frames go to the front of the queue when ready."""
        outgoing = self._outgoing
        if not outgoing or outgoing[0].kind != "speech" or outgoing[0].turn != turn:
            return None, ""
        upcoming = outgoing[0]
        index = upcoming.sentence_index
        words = upcoming.text.split()
        frames = self._piece_sent
        cut = frames and (frames[-1].turn, frames[-1].sentence_index) == (turn, index)
        said = int(len(words) * frames[-1].progress) if cut else 0  # (the cut word is said again)
        rest = " ".join(words[said:]).strip()
        if not rest:
            return None, ""
        while outgoing and (outgoing[0].turn, outgoing[0].sentence_index) == (turn, index):
            outgoing.popleft()
        text = f"As I was saying, {rest[0].lower() + rest[1:] if rest[:2] != 'I ' else rest}"
        self._rephrasing = True
        render = self.speech.render_agent_speech
        work = self._work("tts_rephrase", turn, lambda: render(text, first=True))
        self._rephrase_target = (turn, index, text)
        return work, display_text(text)

    def _on_tts_rephrase_done(self, t_ms: float, work: StageWork, ulaw: bytes) -> list[Output]:
        self._rephrasing = False
        turn, index, text = self._rephrase_target
        frames = list(iter_frames(ulaw))
        count = len(frames)
        rephrased = [
            AgentFrame(payload, turn, "speech", index, text, (i + 1) / count)
            for i, payload in enumerate(frames)
        ]
        self._outgoing.extendleft(reversed(rephrased))
        self._piece_sent = []
        self._sent = None
        if self.state != "speaking" and self._outgoing:
            self.state = "speaking"
        return []

    def _settle_overlap(
        self, t_ms: float, work: StageWork, transcript: Any, overlap: _Overlap, judgement: Any
    ) -> list[Output]:
        """The caller stopped before the judge stopped the agent: decide with the final words."""
        text = transcript.text if transcript is not None else ""
        agent_still_talking = self.state == "speaking"
        if judgement.verdict in ("backchannel", "noise") and overlap.paused_at is not None:
            # "pause" mode went quiet for an acknowledgement: the reply goes on from the cut
            # (a resume, not a failure: its cost is the resume gap).
            self.false_interruptions += 1
            return [
                ev.Interruption(
                    self.call_id,
                    t_ms,
                    kind="backchannel",
                    text=text,
                    stopped_agent=True,
                    false_interruption=True,
                ),
                *self._resume(t_ms, overlap, f"only {judgement.verdict} {text!r}"),
            ]
        if judgement.verdict in ("backchannel", "noise"):
            record = self.turns[overlap.agent_turn]
            record.notes.append(f"{judgement.verdict} {text!r} at {t_ms:.0f} ms: kept talking")
            if judgement.verdict == "backchannel" and agent_still_talking:
                self._acknowledgement_end = overlap.speech_ended_at
            if not agent_still_talking and self.state == "thinking":
                # The reply ended meanwhile and a turn was opened for this: nothing to answer.
                self.turns[work.turn].notes.append("only an acknowledgement: nothing to answer")
                self.state = "listening"
            return [
                ev.Interruption(
                    self.call_id,
                    t_ms,
                    kind="backchannel",
                    text=text,
                    stopped_agent=False,
                    false_interruption=False,
                )
            ]
        if not agent_still_talking:  # the reply ended meanwhile: an ordinary turn
            return self._answer_transcript(t_ms, work.turn, transcript)
        # A short real interruption ("no."): stop now and answer it as a new turn.
        self._overlap = overlap
        out = self._stop_for_barge_in(t_ms, judgement.reason)
        self._overlap = None
        self.current_turn += 1
        turn = self.current_turn
        self.turns[turn] = TurnRecord(turn=turn, endpoint_at=t_ms, endpoint_label="barge-in")
        self.state = "thinking"
        self._filler_played = False
        return out + self._on_caller_words(
            t_ms, StageWork(0, "stt_final", turn, lambda: None), transcript
        )

    def _false_interruption(
        self, t_ms: float, work: StageWork, text: str, judgement: Any
    ) -> list[Output]:
        """The agent stopped for what turned out to be an acknowledgement: resume."""
        self.false_interruptions += 1
        record = self.turns[work.turn]
        record.checkpoints.append((self._stt_lane(), "stage", t_ms))
        record.notes.append(
            f"false interruption: {judgement.reason}; resuming ({self.settings.resume_policy})"
        )
        out: list[Output] = [
            ev.Interruption(
                self.call_id,
                t_ms,
                kind="backchannel",
                text=text,
                stopped_agent=True,
                false_interruption=True,
            )
        ]
        if getattr(self, "_pending_before_barge_in", None) is not None:
            # The answers will be heard after all: they are no longer pending.
            self.conversation.pending_questions = self._pending_before_barge_in
            self._pending_before_barge_in = None
        sentences, index = self._interrupted or ((), 0)
        remaining = tuple(sentences[index:])
        if not remaining:
            self.state = "listening"
            return out
        if self.settings.resume_policy == "rephrase":
            remaining = ("As I was saying,", *remaining)
        from workbench.agent import Reply

        resumed = Reply(
            sentences=remaining,
            plan=f"resume after false interruption ({self.settings.resume_policy})",
        )
        return out + self._speak(t_ms, work.turn, resumed)

    def _no_input(self, t_ms: float) -> list[Output]:
        self.current_turn += 1
        turn = self.current_turn
        self.turns[turn] = TurnRecord(turn=turn, endpoint_at=t_ms, endpoint_label="no input")
        self.state = "thinking"
        self._last_agent_audio_end = None
        return [self._work("respond", turn, lambda: self.agent.no_input(self.conversation))]

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

    def _work(self, stage: str, turn: int, run: Callable[[], Any], tokens: int = 0) -> StageWork:
        work = StageWork(next(self._work_ids), stage, turn, run, tokens)
        self._pending[work.work_id] = work
        return work


def _none() -> None:
    return None


def _no_words_reply(agent: Any) -> Any:
    """The agent's own no-match wording (guardrails.no_match), for speech with no words."""
    from workbench.agent import Reply

    guardrails = getattr(getattr(agent, "definition", None), "guardrails", None)
    wording = list(getattr(guardrails, "no_match", None) or [])
    return Reply(
        sentences=tuple(wording[:1]) or ("Sorry, I didn't catch that. Could you say it again?",),
        plan="re-prompt: speech with no words",
    )


def _fallback_reply(agent: Any) -> Any:
    from workbench.agent import Reply

    return Reply(
        sentences=("Sorry, I had trouble with that. Could you say it again?",),
        routing=None,
        actions=(),
        plan="fallback: a stage failed",
        end_call=False,
        topic="Unknown",
    )
