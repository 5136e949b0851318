"""The accurate ear: a final pass over each utterance's audio gives the words the agent answers.

Apart from the session because the pass has a life cycle of its own beside the turn: it keeps
the utterance's 16 kHz audio, starts speculatively in a silence (so the endpointer's wait hides
part of it), is discarded when the caller goes on, is awaited once the endpoint is decided, and
its words are reconciled with the streaming recogniser's. An utterance whose reply was withdrawn
is carried and heard again with the next one. With the fast ear (`final_pass` None) the room
holds no audio and the streaming recogniser's words are the turn's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.engine import events as ev
from workbench.engine.interruption import BACKCHANNEL_TOKENS
from workbench.engine.stages import Output, StageWork, settled
from workbench.speech.ears import reconcile
from workbench.speech.stt import Transcript

if TYPE_CHECKING:
    from workbench.engine.session import CallSession

CONTEXT_SENTENCES = 3  # of the agent's, the context its final pass hears the caller in


@dataclass
class FinalPass:
    """The accurate ear's pass over the current utterance's audio (one at a time)."""

    work_id: int
    samples: int  # the utterance audio it covers (16 kHz)
    audio: list[np.ndarray]  # what it hears: any carried utterance, then this one's so far
    carried: bool  # it hears an earlier utterance again (its reply was withdrawn)
    done: bool = False
    result: Transcript | None = None  # None when done: the pass failed
    dropped: threading.Event = field(default_factory=threading.Event)  # tells a queued run
    awaited: tuple[float, int] | None = None  # (endpoint time, turn) once the turn waits for it


class AccurateEar:
    """The final pass of one session (inactive with the fast ear)."""

    def __init__(self, session: CallSession, final_pass: Any) -> None:
        self._session = session
        self.final_pass = final_pass  # None: the fast ear, whose words are the recogniser's
        self.active = final_pass is not None
        self.audio: list[np.ndarray] = []  # the utterance's 16 kHz audio, for the final pass
        self.audio_samples = 0
        self.speech_samples = 0  # of the utterance's audio, up to its last speech frame
        self.carry_audio: list[np.ndarray] = []  # an utterance to hear again with the next
        self.current: FinalPass | None = None
        self.heard_audio: list[np.ndarray] = []  # the audio of the words last answered
        self.words_include_carry = False  # the final pass heard the carried utterance too
        self.streaming_text: Transcript | None = None  # the recogniser's, if the pass fails

    @property
    def awaited(self) -> bool:
        """A turn waits for the current pass's words."""
        return self.current is not None and self.current.awaited is not None

    def begin(self, t_ms: float, preroll: list[np.ndarray]) -> None:
        """A new utterance began with this audio."""
        if not self.active:
            return
        if self.awaited:
            self.carry_audio = self.carry_audio + self.audio  # not heard yet: hear again
        self.discard(t_ms, "a new utterance began")
        self.audio = preroll
        self.audio_samples = self.speech_samples = sum(len(c) for c in self.audio)

    def frame(self, t_ms: float, pcm16k: np.ndarray, speech: bool) -> list[Output]:
        """Keep the utterance's audio; start the pass early in a silence, drop it if the
        caller goes on (its words would miss the rest)."""
        s = self._session
        self.audio.append(pcm16k)
        self.audio_samples += len(pcm16k)
        if speech:
            self.speech_samples = self.audio_samples
        current = self.current
        if speech and current is not None and current.awaited is None:
            self.discard(t_ms, "the caller went on")
            return [ev.FinalPassDiscarded(s.call_id, t_ms, reason="the caller went on")]
        listening = s.listening
        if (
            not speech
            and current is None
            and s.settings.speculative_final_pass
            and listening.last_speech_end is not None
            and listening.speech_ms >= s.settings.min_utterance_ms
            and t_ms - listening.last_speech_end >= self._start_ms()
        ):
            return self._start()
        return []

    def _start_ms(self) -> float:
        """How far into a silence the speculative final pass starts."""
        settings = self._session.settings
        expected = (
            self._session.endpointer.wait_ms(self._session.listening.partial)
            - settings.final_pass_lead_ms
        )
        expected = min(expected, settings.final_pass_latest_ms)
        return max(settings.final_pass_after_ms, expected)

    def endpoint_words(self) -> str:
        """The words the endpointer judges: the final pass's once it has heard all the speech
        so far (they are the better words), else the streaming partial."""
        final = self.current
        if (
            final is not None
            and final.done
            and final.result is not None
            and not final.carried
            and final.samples >= self.speech_samples
        ):
            return final.result.text
        return self._session.listening.partial

    def _start(self) -> list[Output]:
        """Run the final pass over the utterance's audio so far (and any carried before it)."""
        s = self._session
        chunks = self.carry_audio + self.audio
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        final_pass = self.final_pass
        assert final_pass is not None
        dropped = threading.Event()
        context = self._heard_context()

        def run() -> Transcript | None:
            # A pass discarded before its turn came is not run at all (`skip`: live calls
            # queue their passes; running stale ones starved the wanted ones).
            return final_pass.transcribe(audio, skip=dropped.is_set, context=context)

        work = s.works.new("stt_pass", s.current_turn, run)
        self.current = FinalPass(
            work.work_id,
            self.audio_samples,
            chunks,
            carried=bool(self.carry_audio),
            dropped=dropped,
        )
        return [work]

    def _heard_context(self) -> str:
        """What the caller last heard the agent say (its last `CONTEXT_SENTENCES` sentences),
        the context the final pass hears the caller's answer in."""
        said = [text for who, text in self._session.transcript if who == "agent"]
        return " ".join(said[-CONTEXT_SENTENCES:])

    def discard(self, t_ms: float, why: str) -> None:
        if self.current is None:
            return
        s = self._session
        s.works.cancelled.add(self.current.work_id)
        self.current.dropped.set()
        record = s.turns.get(s.current_turn)
        if record is not None:
            record.notes.append(f"final pass discarded at {t_ms:.0f} ms: {why}")
        self.current = None

    def carry_current(self) -> None:
        """Hear the utterance in progress again with the next one (its reply was withdrawn)."""
        self.carry_audio = self.carry_audio + self.audio

    def carry_heard(self) -> None:
        """Hear the words last answered again with the next utterance."""
        if self.active:
            self.carry_audio = list(self.heard_audio)  # the pass hears both together

    def await_words(self, t_ms: float, turn: int) -> list[Output]:
        """The endpoint is decided: the turn's words are the final pass's, when it is done."""
        out: list[Output] = []
        stale = self.current is not None and (
            self.current.samples < self.speech_samples
            or self.current.carried != bool(self.carry_audio)
        )
        if stale:
            self.discard(t_ms, "it missed part of the speech")
        if self.current is None:
            out += self._start()
        assert self.current is not None
        self.current.awaited = (t_ms, turn)
        return out  # the words are ready once the pass and the streaming close are done

    def on_pass_done(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        final = self.current
        if final is None or final.work_id != work.work_id:
            return []
        final.result = transcript
        final.done = True
        if final.awaited is None or self._session.stt_busy:
            return []  # the endpoint is not decided, or the streaming ear not closed, yet
        return self._words_ready(t_ms)

    def _words_ready(self, t_ms: float) -> list[Output]:
        final, self.current = self.current, None
        assert final is not None and final.awaited is not None
        endpoint_at, turn = final.awaited
        self.carry_audio = []
        self.heard_audio = final.audio  # heard again if the caller turns out to go on
        self.words_include_carry = final.carried
        transcript = final.result
        streaming = self.streaming_text
        if transcript is None:  # the pass failed: the streaming recogniser's words will do
            transcript = streaming
        elif not final.carried:  # (the streaming pass heard the latest utterance only)
            transcript = reconcile(transcript, streaming, BACKCHANNEL_TOKENS)
        return self._session.on_caller_words(
            max(t_ms, endpoint_at), settled("stt_pass", turn), transcript
        )

    def on_close_done(self, t_ms: float, work: StageWork, transcript: Any) -> list[Output]:
        """The streaming recogniser has closed the utterance; it may take the next utterance
        now, and the turn's words may be ready."""
        s = self._session
        s.stt_busy = False
        self.streaming_text = transcript
        final = self.current
        if final is None or final.awaited is None:
            return []
        if s.barge.overlap is not None and transcript is not None:
            # Said over the agent: the interruption judge decides on the streaming words (as
            # on its partials), at once. An acknowledgement needs no final pass; waiting for
            # one left "Yeah, | but…" unsettled when "but" began, and the judge lost the cue.
            verdict = s.barge.judge.judge_final(
                transcript.text, s.listening.speech_ms, transcript.confidence
            ).verdict
            if verdict in ("backchannel", "noise"):
                turn = final.awaited[1]
                self.discard(t_ms, f"a {verdict}: the streaming words decided")
                return s.on_caller_words(t_ms, settled("stt_close", turn), transcript)
        if final.done:
            return self._words_ready(t_ms)
        return []
