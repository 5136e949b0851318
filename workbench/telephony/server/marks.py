"""The mark ledger: what the caller has heard of the agent's audio, proved by mark echoes.

After the first frame of each agent turn, every `MARK_EVERY_FRAMES` frames and at the
end of each sentence the server sends a `mark` named for what it closes
(`t<turn>-s<sentence>-p<percent>-<kind>-<n>`). Their echoes say what the caller has actually
heard; the server-side "first audible agent audio" and the `on_audio_heard` calls to the
session come from them, never from the send clock. On barge-in (the session stops its audio
with reason "interrupted") the server sends `clear`, drops the turn's remaining frames and
treats the burst of echoes that follows as flushed, not heard.

Pause and resume ("pause" interruption mode): when the session pauses its reply for the
caller's voice (`AgentPaused`), the server sends `clear` at once. Its ledger of the turn's
frames and the marks echoed so far say what the caller heard: every frame up to the last mark
echoed for certain, and of the frames after it, all but those still in the caller's buffer —
how many that is, the depth of the caller's buffer, is measured at each echo (frames sent
then, less the frames the echo proves played). The unplayed remainder is kept, counted from
the start of the word it begins in. On `AgentResumed` the session re-sends its cut word from
the start (`rewound_ms`); the server first re-sends whatever of the remainder lies before
that (audio the `clear` dropped that the session does not know was lost), with marks, so the
caller hears each word once and in order (the cut word whole again). On a yield (`AgentAudio
Stopped`, "interrupted") the remainder is dropped and no second `clear` is sent. The session
is told the heard position at the pause (`on_audio_heard`), so the transcript and the CRM
keep what was heard.

Apart from the call bridge because this is bookkeeping with no socket, loop or session: the
bridge sends what the ledger says and tells it what came back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workbench.audio.frames import FRAME_MS, word_start
from workbench.engine import events as ev
from workbench.telephony.server.call_summary import PauseRecord

if TYPE_CHECKING:
    from workbench.engine.playout import AgentFrame

log = logging.getLogger(__name__)

MARK_EVERY_FRAMES = 10  # a mark every 200 ms of agent audio: how finely "heard" is known


@dataclass
class MarkInfo:
    """What a mark closes: the agent audio sent since the previous mark."""

    turn: int
    sentence_index: int
    progress: float
    text: str
    kind: str
    chunk_frames: int  # frames since the previous mark (audio this echo proves played)
    flushed: bool = False
    ledger_end: int = 0  # the turn's frames sent up to and including this mark's


class MarkLedger:
    """The marks out, and the current turn's frames as sent and as proven played."""

    def __init__(self) -> None:
        self.marks: dict[str, MarkInfo] = {}
        self._counter = 0
        self._frames_since_mark = 0
        self._frames_by_turn: dict[int, int] = {}
        self.frames: list[AgentFrame] = []  # the current turn's frames as sent
        self.turn: int | None = None
        self.proven = 0  # of `frames`, played for certain (mark echoes)
        self.depth: int | None = None  # the caller's buffer at the last echo, in frames
        self.pause: PauseRecord | None = None
        self._mark_next = False
        self._after_rephrase: list[AgentFrame] = []  # see `due_before`
        self._rephrased = (-1, -1)  # (turn, sentence) a rephrased resume replaces

    def follow(self, turn: int) -> None:
        """A frame of `turn` is about to be sent: a new turn starts a new ledger."""
        if turn != self.turn:
            self.frames, self.turn, self.proven, self.pause = [], turn, 0, None

    def sent(self, frame: AgentFrame) -> str | None:
        """`frame` went out: the name of the mark to send after it, when one is due."""
        self.frames.append(frame)
        count = self._frames_by_turn.get(frame.turn, 0) + 1
        self._frames_by_turn[frame.turn] = count
        self._frames_since_mark += 1
        if not (
            count == 1
            or self._mark_next
            or self._frames_since_mark >= MARK_EVERY_FRAMES
            or frame.progress >= 1.0
        ):
            return None
        self._mark_next = False
        self._counter += 1
        name = (
            f"t{frame.turn}-s{frame.sentence_index}-p{round(frame.progress * 100)}"
            f"-{frame.kind}-{self._counter}"
        )
        self.marks[name] = MarkInfo(
            frame.turn,
            frame.sentence_index,
            frame.progress,
            frame.text,
            frame.kind,
            self._frames_since_mark,
            ledger_end=len(self.frames),
        )
        self._frames_since_mark = 0
        return name

    def flush(self) -> None:
        """Every mark still out follows audio a `clear` drops: its echo proves nothing."""
        for info in self.marks.values():
            info.flushed = True
        self._frames_since_mark = 0

    def prove(self, info: MarkInfo) -> None:
        """An echo of a mark not flushed: the caller played the turn's frames up to it."""
        if info.turn == self.turn:
            self.proven = max(self.proven, info.ledger_end)
            self.depth = len(self.frames) - info.ledger_end  # sent, not yet played

    def paused(self, t_ms: float, turn: int) -> PauseRecord:
        """The reply pauses at the caller (a `clear` follows): what of it was heard."""
        sent = len(self.frames)
        # Played: all but the depth of the caller's buffer (unknown before the first echo:
        # then only what echoes proved), never less than proven.
        depth = self.depth if self.depth is not None else sent - self.proven
        heard = min(sent, max(self.proven, sent - depth))
        self.pause = PauseRecord(
            t_ms=t_ms,
            turn=turn,
            sent_frames=sent,
            proven_frames=self.proven,
            heard_frames=heard,
            resume_from=self.word_start(heard),
        )
        return self.pause

    def word_start(self, index: int) -> int:
        """Where the word that ledger frame `index` falls in begins (the last quiet frame at
        or before it in its sentence); `index` itself when it is past the end."""
        if index >= len(self.frames):
            return index
        frame = self.frames[index]
        first = index
        while first > 0 and (
            self.frames[first - 1].kind,
            self.frames[first - 1].sentence_index,
        ) == (
            frame.kind,
            frame.sentence_index,
        ):
            first -= 1
        return first + word_start([f.payload for f in self.frames[first : index + 1]])

    def resume(self, pause: PauseRecord, rewound_ms: float) -> list[AgentFrame]:
        """The session goes on with the reply, re-sending its last `rewound_ms` (its cut
        word): the frames the `clear` dropped before that, to re-send first."""
        pause.outcome = "resumed"
        rewound = len(self.frames) - round(rewound_ms / FRAME_MS)
        start = min(pause.resume_from, rewound)
        resend = self.frames[pause.resume_from : rewound]
        del self.frames[start:]
        self.proven = min(self.proven, start)
        pause.resent_frames = len(resend)
        self._mark_next = True  # learn soon that the caller hears the reply again
        return resend

    def resume_rephrased(self, pause: PauseRecord, sentence: int) -> None:
        """The session goes on with "As I was saying, …" in place of the cut `sentence`: of
        what the `clear` dropped, the later sentences are still to be heard, once the
        rephrasing has been sent (`due_before`)."""
        pause.outcome = "resumed"
        later = [f for f in self.frames[pause.heard_frames :] if f.sentence_index > sentence]
        del self.frames[pause.heard_frames :]
        self.proven = min(self.proven, pause.heard_frames)
        pause.resent_frames = len(later)
        self._mark_next = True
        self._after_rephrase, self._rephrased = later, (pause.turn, sentence)

    def due_before(self, frame: AgentFrame) -> list[AgentFrame]:
        """Frames to send before the session's `frame`: after a rephrased resume, the later
        sentences a `clear` dropped, once the rephrasing is over (none if the reply was
        given up meanwhile)."""
        if not self._after_rephrase or (frame.turn, frame.sentence_index) == self._rephrased:
            return []
        held, self._after_rephrase = self._after_rephrase, []
        return held if frame.turn == held[0].turn else []


def heard_events(
    call_sid: str, record: Any, turn: int, first_ms: float, speech_end_ms: float | None
) -> list[ev.Event]:
    """A turn first heard at `first_ms` (its first mark echo): `AgentAudioHeard`, and the
    server-side waterfall of the turn (`TurnCompleted`) when its record can make one."""
    heard: list[ev.Event] = [ev.AgentAudioHeard(call_sid, first_ms, turn=turn)]
    completed = server_side_timeline(call_sid, record, turn, first_ms, speech_end_ms)
    return heard if completed is None else [*heard, completed]


def server_side_timeline(
    call_sid: str, record: Any, turn: int, first_ms: float, speech_end_ms: float | None
) -> Any:
    """The server-side waterfall of a turn, closed by the mark echo (not the send clock); None
    when the turn's record cannot make one."""
    from workbench.engine.trace import TimelineBuilder, TimelineError

    if record is None or record.first_frame_sent_at is None:
        return None
    origin = speech_end_ms if turn > 0 and speech_end_ms is not None else 0.0
    builder = TimelineBuilder(turn, origin)
    try:
        if turn > 0 and record.endpoint_at is not None:
            builder.reach(
                record.endpoint_label or "endpointing wait", "setting", record.endpoint_at
            )
        sent = record.first_frame_sent_at
        for name, owner, t in list(record.checkpoints):
            if t <= sent:
                builder.reach(name, owner, t)
        builder.reach("agent output clock (20 ms frames)", "playout", sent)
        builder.reach("agent leg + caller playout (mark echo)", "network", first_ms)
        builder.caller_text = record.caller_text
        builder.agent_text = " ".join(record.agent_sentences)
        builder.spans.extend(list(record.spans))
        builder.notes.append(
            "server-side: origin is the VAD's end of caller speech; the end is the "
            "first mark echo (what the caller's playout reached)"
        )
        return ev.TurnCompleted(call_sid, first_ms, turn=turn, timeline=builder.build())
    except TimelineError as error:
        log.info("call %s: no server-side waterfall for turn %d: %s", call_sid, turn, error)
        return None
