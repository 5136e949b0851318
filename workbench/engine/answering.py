"""Answering: what a turn's words lead to, and taking a reply back when the caller goes on.

Apart from the session because it is the agent's side of a turn, after the words are known:
understanding (topic classification and retrieval run in parallel, the later one owning the
waterfall lane), the reply (or a re-prompt for speech with no words, a fallback when a stage
failed), its plan for playout, a handoff request; and, when the caller turns out not to have
finished, withdrawing the reply (its pending stages, the conversation's changes) so both
utterances are answered as one. The session decides when a turn's words are ready; this room
holds what answering them needs (the understanding so far, the conversation before the reply,
the words carried to the next utterance) and reaches the session's turns and playout.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from workbench.engine import events as ev
from workbench.engine.stages import Output, StageWork
from workbench.engine.turns import TurnRecord

if TYPE_CHECKING:
    from workbench.engine.session import CallSession

REPROMPT_SPEECH_MS = 600.0  # speech this long with no words is re-prompted (a cough is not)


class Answering:
    """The agent's answers in one session."""

    def __init__(self, session: CallSession) -> None:
        self._session = session
        self.understanding: Any = None  # None: pending; () known to be missing
        self.chunks: Any = None
        self.reply: Any = None  # the reply last spoken
        self._snapshot: tuple[int, Any] | None = None  # (turn, conversation before its reply)
        self.carry_text: str | None = None  # an unfinished utterance to merge with the next

    @property
    def snapshot_turn(self) -> int | None:
        """The turn whose reply can still be withdrawn (the conversation before it is kept)."""
        return self._snapshot[0] if self._snapshot is not None else None

    def answer_transcript(self, t_ms: float, turn: int, transcript: Any) -> list[Output]:
        """A caller utterance of `turn` is recognised: understand it (and then answer it)."""
        s = self._session
        record = s.turns[turn]
        record.checkpoint(s.stt_lane(), t_ms)
        text = transcript.text if transcript is not None else ""
        ear = s.ear
        if self.carry_text:
            # The previous turn was not over: answer everything the caller said at once (the
            # accurate ear heard both utterances' audio in one pass: its words are whole).
            record.notes.append(f"continues the previous utterance {self.carry_text!r}")
            if not ear.words_include_carry:
                text = f"{self.carry_text} {text}".strip()
                # The audio last heard holds the new words only: should the caller go on
                # again, the pass must not hear it as the whole turn ("…how much does it cost
                # and are you open on Christmas" lost "what are your opening hours").
                ear.heard_audio = []
        self.carry_text = None
        ear.words_include_carry = False
        record.caller_text = text
        out: list[Output] = []
        speech_ms = s.listening.speech_ms
        if transcript is not None:
            out.append(
                ev.FinalTranscript(
                    s.call_id,
                    t_ms,
                    text=text,
                    confidence=transcript.confidence,
                    words=tuple((w.word, w.start_ms, w.end_ms) for w in transcript.words),
                    ear=s.settings.ear,
                    # What the streaming pass heard of this utterance: its closed transcript
                    # (the accurate ear waits for it), else its last partial.
                    streaming_text=(
                        ear.streaming_text.text
                        if ear.active and ear.streaming_text is not None
                        else s.listening.partial
                    ),
                )
            )
        if not text.strip():
            if speech_ms >= REPROMPT_SPEECH_MS:
                # Speech that yields no words (babble, a bad line) ends in a re-prompt: a
                # caller who spoke must hear something, never silence.
                record.notes.append(f"{speech_ms:.0f} ms of speech, no words: re-prompt")
                if hasattr(s.conversation, "reprompt_count"):
                    s.conversation.reprompt_count += 1
                return out + self.speak(t_ms, turn, no_words_reply(s.agent))
            record.notes.append("nothing recognised: back to listening")
            s.state = "listening"
            return out
        s.transcript.append(("caller", text))
        self.understanding = None
        self.chunks = None
        out.append(s.works.new("classify", turn, lambda: s.agent.understand(text)))
        out.append(s.works.new("retrieve", turn, lambda: s.agent.retrieve(text)))
        return out

    def on_classify_done(self, t_ms: float, work: StageWork, understanding: Any) -> list[Output]:
        s = self._session
        self.understanding = understanding
        record = s.turns[work.turn]
        record.understanding = understanding
        out: list[Output] = [
            ev.TopicDecided(
                s.call_id,
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
        return out + self.maybe_respond(t_ms, work.turn, finished="topic classification")

    def on_retrieve_done(self, t_ms: float, work: StageWork, chunks: Any) -> list[Output]:
        s = self._session
        self.chunks = tuple(chunks)
        record = s.turns[work.turn]
        record.chunks = self.chunks
        out: list[Output] = [
            ev.KnowledgeRetrieved(
                s.call_id,
                t_ms,
                turn=work.turn,
                chunks=tuple(
                    {"source": c.source, "heading": c.heading, "text": c.text, "score": c.score}
                    for c in self.chunks
                ),
            )
        ]
        return out + self.maybe_respond(t_ms, work.turn, finished="retrieval")

    def maybe_respond(self, t_ms: float, turn: int, finished: str = "") -> list[Output]:
        s = self._session
        if self.understanding is None or self.chunks is None:
            return []
        record = s.turns[turn]
        # Classification and retrieval ran in parallel; the one that finished last owns the lane.
        record.checkpoint(f"understanding: {finished} (parallel)", t_ms)
        understanding, chunks, text = self.understanding, list(self.chunks), record.caller_text
        if not understanding:
            return self.speak(t_ms, turn, fallback_reply(s.agent))
        # The conversation as it was before this reply, in case the caller turns out not to
        # have finished (see continue_previous_turn).
        self._snapshot = (turn, copy.deepcopy(s.conversation))
        conversation = s.conversation
        return [
            s.works.new(
                "respond",
                turn,
                lambda: s.responder.reply(conversation, text, understanding, chunks),
            )
        ]

    def on_respond_done(self, t_ms: float, work: StageWork, reply: Any) -> list[Output]:
        return self.speak(t_ms, work.turn, reply)

    def speak(self, t_ms: float, turn: int, reply: Any) -> list[Output]:
        s = self._session
        record = s.turns[turn]
        record.checkpoint("response" if turn else "greeting response", t_ms)
        record.reply = reply
        record.agent_sentences = tuple(reply.sentences)
        self.reply = reply
        spoken = [(i, s) for i, s in enumerate(reply.sentences) if s.strip()]
        # The first sentence is voiced clause by clause: the caller hears the reply as soon as
        # its first few words are synthesised, not its whole first sentence.
        pieces: list[tuple[int, str]] = []
        for position, (index, sentence) in enumerate(spoken):
            parts = s.speech.first_pieces(sentence) if position == 0 else [sentence]
            pieces += [(index, part) for part in parts]
        # A streamed reply carries the rest of its sentences as an iterator (`more`).
        s.playout.plan(pieces, getattr(reply, "more", None))
        out: list[Output] = [
            ev.ResponseStarted(
                s.call_id,
                t_ms,
                turn=turn,
                sentences=s.playout.sentences,
                plan=reply.plan,
                routing=reply.routing,
                actions=tuple(
                    {"kind": a.kind, "params": dict(a.params), "result": dict(a.result)}
                    for a in reply.actions
                ),
            )
        ]
        if reply.routing == "human":
            summary = getattr(s.conversation, "escalation_summary", "") or ""
            escalate = next((a for a in reply.actions if a.kind == "escalate"), None)
            params = dict(escalate.params) if escalate is not None else {}
            out.append(
                ev.HandoffRequested(
                    s.call_id,
                    t_ms,
                    queue=str(params.get("queue", "Reception")),
                    reason=str(params.get("reason", reply.plan)),
                    summary=str(params.get("summary", summary)),
                )
            )
        if reply.routing is not None:
            s.routing = reply.routing
        s.end_after_speaking = bool(reply.end_call or reply.routing == "human")
        if not s.playout.sentences:
            s.state = "listening"
            s.last_agent_audio_end = t_ms  # the no-input timer runs from here
            return out
        s.state = "speaking"
        out += s.playout.synthesise_next(turn)
        return out

    # ------------------------------------------------------------------ withdrawn replies

    def continue_previous_turn(self, t_ms: float, why: str) -> list[Output]:
        """The caller spoke again before the reply to its last utterance was heard: drop that
        reply (its pending stages, the conversation changes) and answer both utterances as one."""
        s = self._session
        turn = s.current_turn
        record = s.turns.get(turn)
        final = s.ear.current
        if final is not None and final.awaited is not None and final.awaited[1] == turn:
            # Its words are not heard yet: hear both utterances together in the next pass.
            s.ear.carry_current()
            s.ear.discard(t_ms, why)
            if record is not None:
                record.notes.append(f"turn dropped before its words: {why}")
            s.state = "listening"
            return []
        if record is None or record.first_frame_sent_at is not None or not record.caller_text:
            return []
        s.works.cancel_where(lambda work: work.turn == turn)
        s.playout.drop()
        if self.snapshot_turn == turn:
            self.restore_snapshot(record, why)
        else:
            self._carry(record)
            record.notes.append(f"reply dropped: {why}")
        s.state = "listening"
        return []

    def restore_snapshot(self, record: TurnRecord, why: str) -> None:
        s = self._session
        assert self._snapshot is not None
        s.conversation = self._snapshot[1]
        self._snapshot = None
        self._carry(record)
        if s.transcript and s.transcript[-1] == ("caller", record.caller_text):
            s.transcript.pop()  # it is said again, merged, with the next utterance
        record.notes.append(f"reply withdrawn: {why}")

    def _carry(self, record: TurnRecord) -> None:
        """Answer the turn's words together with the caller's next utterance."""
        s = self._session
        self.carry_text = record.caller_text
        s.ear.carry_heard()


def no_words_reply(agent: Any) -> Any:
    """The agent's own no-match wording (guardrails.no_match), for speech with no words."""
    from workbench.agent import Reply

    guardrails = getattr(getattr(agent, "definition", None), "guardrails", None)
    wording = list(getattr(guardrails, "no_match", None) or [])
    return Reply(
        sentences=tuple(wording[:1]) or ("Sorry, I didn't catch that. Could you say it again?",),
        plan="re-prompt: speech with no words",
    )


def fallback_reply(agent: Any) -> Any:
    from workbench.agent import Reply

    return Reply(
        sentences=("Sorry, I had trouble with that. Could you say it again?",),
        routing=None,
        actions=(),
        plan="fallback: a stage failed",
        end_call=False,
        topic="Unknown",
    )
