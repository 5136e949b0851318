"""Barge-in handling: the caller talks over the agent, and the agent pauses, yields or goes on.

Apart from the session because talking over is a conversation inside the conversation, with
its own record (`Overlap`: when the caller began, whether the agent paused or stopped, why) and
its own decisions: pause at the voice's onset ("pause" mode), stop for a real interruption,
resume (from the cut word, or rephrased after a long pause) for an acknowledgement or when the
pause reaches its cap, and take back what the caller never heard. The session calls in at each
caller frame and when the caller's words are known; the decisions act on the session's playout
and turns, so the room holds a reference to the session it serves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.engine import events as ev
from workbench.engine.endpointing import EndpointDecision
from workbench.engine.interruption import InterruptionJudge
from workbench.engine.stages import Output, StageWork, settled

if TYPE_CHECKING:
    from workbench.engine.session import CallSession


@dataclass
class Overlap:
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


class BargeIns:
    """Talking over the agent, for one session."""

    def __init__(self, session: CallSession) -> None:
        self._session = session
        self.judge = InterruptionJudge()
        self.overlap: Overlap | None = None  # the caller's utterance began while the agent spoke
        self._acknowledgement_end: float | None = None  # the last one said over the agent
        self._interrupted: tuple[tuple[str, ...], int] | None = None  # sentences, cut index
        self._pending_before_barge_in: list[Any] | None = None
        self.false_interruptions = 0
        self.barge_ins = 0

    @property
    def paused(self) -> bool:
        """The agent is quiet for the caller ("pause" mode) and has not stopped."""
        overlap = self.overlap
        return overlap is not None and overlap.paused_at is not None and not overlap.stopped_agent

    def begin(self, started_at: float) -> None:
        """A caller utterance began: over the agent's speech, it is an overlap."""
        s = self._session
        self.overlap = None
        if s.state == "speaking" and s.settings.barge_in:
            started_speaking = s.turns[s.current_turn].first_frame_sent_at or started_at
            self.overlap = Overlap(started_at, s.current_turn, started_at - started_speaking)
            acknowledged = self._acknowledgement_end
            if acknowledged is not None and started_at - acknowledged <= s.settings.follow_on_ms:
                self.overlap.after_acknowledgement_ms = max(0.0, started_at - acknowledged)
            self.judge.reset()
        self._acknowledgement_end = None

    def frame(self, t_ms: float) -> list[Output]:
        """A frame of an utterance over the agent: pause at the onset, judge the words so far."""
        s = self._session
        overlap = self.overlap
        if overlap is None or overlap.stopped_agent or s.state != "speaking":
            return []
        out: list[Output] = []
        onset = s.listening.onset
        if (
            onset is not None
            and overlap.paused_at is None
            and overlap.capped_at is None
            and onset.is_speech
        ):
            overlap.paused_at = t_ms  # go quiet now, decide what it was later
            out.append(
                ev.AgentPaused(
                    s.call_id, t_ms, turn=overlap.agent_turn, onset_ms=overlap.started_at
                )
            )
        speech_ms = s.listening.speech_ms
        judgement = self.judge.judge(
            s.listening.partial,
            speech_ms,
            after_acknowledgement_ms=overlap.after_acknowledgement_ms,
        )
        paused = overlap.paused_at is not None
        if judgement.verdict == "barge_in" and (
            not paused
            or speech_ms >= self.judge.max_backchannel_ms
            or overlap.after_acknowledgement_ms is not None
            or judgement.reason.startswith("stop word")
        ):
            out += self.stop(t_ms, judgement.reason)
        elif judgement.verdict == "barge_in":
            # Paused, the agent is quiet already: a short sound's content words wait for its
            # final words (the streaming recogniser hears "mm-hmm" as "anna my"); they mean
            # the caller's turn has begun if the pause reaches its cap.
            overlap.turn_begun = judgement.reason
        return out

    def paused_endpoint(self, silence_ms: float) -> EndpointDecision | None:
        """While the agent is paused for the caller, a short sound ends sooner: the caller
        hears silence until its words are judged (the resume gap), and an acknowledgement
        ("mm-hmm") is short; a caller who goes on is heard as going on after it."""
        if not self.paused:
            return None
        wait = self._session.settings.paused_endpoint_ms
        if silence_ms + 1e-9 < wait or self._session.listening.speech_ms >= (
            self.judge.max_backchannel_ms
        ):
            return None
        return EndpointDecision(
            silence_ms,
            wait,
            f"endpointing wait [paused: {wait:.0f} ms]",
            f"{silence_ms:.0f} ms of silence while the agent is paused",
        )

    def check_cap(self, t_ms: float) -> list[Output]:
        """A pause that reached its cap ends: in a yield if the caller's turn has begun, else
        in a resume (while the caller speaks, or while its words are still being recognised)."""
        overlap = self.overlap
        if (
            overlap is None
            or not self.paused
            or t_ms - (overlap.paused_at or 0.0) < self._session.settings.pause_cap_ms
        ):
            return []
        if overlap.turn_begun:  # the caller's turn has begun: yield, do not resume
            return self.stop(t_ms, overlap.turn_begun)
        out = self.resume(t_ms, overlap, "the pause reached its cap")
        overlap.capped_at = t_ms
        return out

    def stop(self, t_ms: float, reason: str) -> list[Output]:
        """Stop talking now: drop queued audio (Twilio's `clear`), keep what was heard."""
        s = self._session
        playout = s.playout
        overlap = self.overlap
        assert overlap is not None
        overlap.stopped_agent = True
        overlap.reason = reason
        self.barge_ins += 1
        t_ms = overlap.paused_at if overlap.paused_at is not None else t_ms  # when it went quiet
        heard, index, progress, cut = playout.text_heard(s.current_turn)
        self._interrupted = (playout.sentences, index)
        record = s.turns[overlap.agent_turn]
        first_sent = record.first_frame_sent_at
        # (a reply not sent at all yet counts too: "pause" mode stops before its first frame)
        continuation = (
            (first_sent is None or overlap.started_at - first_sent <= s.settings.continuation_ms)
            and overlap.agent_turn == s.current_turn
            and s.answering.snapshot_turn == overlap.agent_turn
        )
        on_interrupted = getattr(s.agent, "on_interrupted", None)
        if continuation:
            # The reply had barely begun: the caller was still finishing. Take the reply back
            # and answer the whole utterance (e.g. a second question after a pause).
            s.answering.restore_snapshot(record, "the caller went on as the reply began")
        elif on_interrupted is not None:  # e.g. unheard answers to questions stay pending
            pending = getattr(s.conversation, "pending_questions", None)
            self._pending_before_barge_in = list(pending) if pending is not None else None
            origin = playout.origin
            on_interrupted(s.conversation, origin[index] if index < len(origin) else index)
        playout.outgoing.clear()
        s.works.cancel_where(lambda work: work.stage in ("tts_sentence", "tts_rephrase"))
        playout.rephrasing = False
        playout.synthesising = False
        playout.give_up()
        playout.more = None
        s.end_after_speaking = False
        s.last_agent_audio_end = t_ms
        s.state = "listening"
        if overlap.agent_turn == s.current_turn:  # (the turn `text_heard` speaks of)
            first = index + 1 if progress >= 1.0 else index
            playout.take_back_unheard(overlap.agent_turn, first, s.transcript)
        if cut and progress < 1.0:  # (whole sentences heard are in the transcript already)
            s.transcript.append(("agent", cut + " —"))
        record = s.turns[overlap.agent_turn]
        record.notes.append(f"barge-in at {t_ms:.0f} ms ({reason}); heard: {heard!r}")
        return [
            ev.AgentAudioStopped(
                s.call_id, t_ms, turn=overlap.agent_turn, reason="interrupted", text_heard=heard
            ),
            ev.Interruption(
                s.call_id,
                t_ms,
                kind="barge_in",
                text=s.listening.partial,
                stopped_agent=True,
                false_interruption=False,
            ),
        ]

    def resume(self, t_ms: float, overlap: Overlap, why: str) -> list[Output]:
        """Go on with the paused reply: from the start of the cut word, or, after a long pause
        under the "rephrase" policy, with "As I was saying, " and the rest of the sentence."""
        s = self._session
        assert overlap.paused_at is not None
        paused_ms = t_ms - overlap.paused_at
        overlap.paused_at = None
        record = s.turns[overlap.agent_turn]
        rephrase = (
            s.settings.resume_policy == "rephrase" and paused_ms >= s.settings.rephrase_after_ms
        )
        work, sentence, index = (
            s.playout.rephrase_cut_sentence(overlap.agent_turn) if rephrase else (None, "", -1)
        )
        rewound_ms = 0.0
        if work is not None:
            record.notes.append(f"paused {paused_ms:.0f} ms ({why}); rephrasing {sentence!r}")
        else:  # from the start of the cut word (also when there was nothing to rephrase)
            rewound_ms, sentence = s.playout.rewind_to_word_start()
            record.notes.append(
                f"paused {paused_ms:.0f} ms ({why}); resumed {rewound_ms:.0f} ms back in "
                f"{sentence!r}"
            )
        resumed = ev.AgentResumed(
            s.call_id,
            t_ms,
            turn=overlap.agent_turn,
            paused_ms=paused_ms,
            rewound_ms=rewound_ms,
            text=sentence,
            rephrased=work is not None,
            sentence_index=index,
        )
        return [work, resumed] if work is not None else [resumed]

    def settle(
        self, t_ms: float, work: StageWork, transcript: Any, overlap: Overlap, judgement: Any
    ) -> list[Output]:
        """The caller stopped before the judge stopped the agent: decide with the final words."""
        s = self._session
        text = transcript.text if transcript is not None else ""
        agent_still_talking = s.state == "speaking"
        if judgement.verdict in ("backchannel", "noise") and overlap.paused_at is not None:
            # "pause" mode went quiet for an acknowledgement: the reply goes on from the cut
            # (a resume, not a failure: its cost is the resume gap).
            self.false_interruptions += 1
            return [
                ev.Interruption(
                    s.call_id,
                    t_ms,
                    kind="backchannel",
                    text=text,
                    stopped_agent=True,
                    false_interruption=True,
                ),
                *self.resume(t_ms, overlap, f"only {judgement.verdict} {text!r}"),
            ]
        if judgement.verdict in ("backchannel", "noise"):
            record = s.turns[overlap.agent_turn]
            record.notes.append(f"{judgement.verdict} {text!r} at {t_ms:.0f} ms: kept talking")
            if judgement.verdict == "backchannel" and agent_still_talking:
                self._acknowledgement_end = overlap.speech_ended_at
            if not agent_still_talking and s.state == "thinking":
                # The reply ended meanwhile and a turn was opened for this: nothing to answer.
                s.turns[work.turn].notes.append("only an acknowledgement: nothing to answer")
                s.state = "listening"
            return [
                ev.Interruption(
                    s.call_id,
                    t_ms,
                    kind="backchannel",
                    text=text,
                    stopped_agent=False,
                    false_interruption=False,
                )
            ]
        if not agent_still_talking:  # the reply ended meanwhile: an ordinary turn
            return s.answering.answer_transcript(t_ms, work.turn, transcript)
        # A short real interruption ("no."): stop now and answer it as a new turn.
        self.overlap = overlap
        out = self.stop(t_ms, judgement.reason)
        self.overlap = None
        turn = s.open_turn(t_ms, "barge-in")
        return out + s.on_caller_words(t_ms, settled("stt_final", turn), transcript)

    def false_interruption(
        self, t_ms: float, work: StageWork, text: str, judgement: Any
    ) -> list[Output]:
        """The agent stopped for what turned out to be an acknowledgement: resume."""
        s = self._session
        self.false_interruptions += 1
        record = s.turns[work.turn]
        record.checkpoint(s.stt_lane(), t_ms)
        record.notes.append(
            f"false interruption: {judgement.reason}; resuming ({s.settings.resume_policy})"
        )
        out: list[Output] = [
            ev.Interruption(
                s.call_id,
                t_ms,
                kind="backchannel",
                text=text,
                stopped_agent=True,
                false_interruption=True,
            )
        ]
        if self._pending_before_barge_in is not None:
            # The answers will be heard after all: they are no longer pending.
            s.conversation.pending_questions = self._pending_before_barge_in
            self._pending_before_barge_in = None
        sentences, index = self._interrupted or ((), 0)
        remaining = tuple(sentences[index:])
        if not remaining:
            s.state = "listening"
            return out
        if s.settings.resume_policy == "rephrase":
            remaining = ("As I was saying,", *remaining)
        from workbench.agent import Reply

        resumed = Reply(
            sentences=remaining,
            plan=f"resume after false interruption ({s.settings.resume_policy})",
        )
        return out + s.answering.speak(t_ms, work.turn, resumed)
