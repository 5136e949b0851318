"""Playout: the agent's outgoing audio, what of it was sent and heard, and pausing it.

Apart from the session because the reply's audio has a life of its own once planned: its
pieces are synthesised one after another (a streamed reply's sentences as they come), queued
as 20 ms frames, sent one per tick, and taken back, rewound or rephrased when the caller talks
over it. The session decides *when* (turn-taking); this room knows *what* was sent and heard.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.audio.frames import FRAME_MS, iter_frames, word_start
from workbench.engine.stages import Output, StageWork, WorkLedger
from workbench.speech.numbers import display_text


@dataclass(frozen=True)
class AgentFrame:
    """One 20 ms frame of agent audio with what it carries."""

    payload: bytes
    turn: int
    kind: str  # "speech" | "filler"
    sentence_index: int
    text: str  # the sentence this frame belongs to
    progress: float  # fraction of that sentence sent once this frame is sent


def frames_from(
    payloads: list[bytes], turn: int, kind: str, index: int, text: str
) -> list[AgentFrame]:
    """Audio payloads as the frames that carry them, each with the share of `text` sent."""
    count = len(payloads)
    return [
        AgentFrame(payload, turn, kind, index, text, (i + 1) / count)
        for i, payload in enumerate(payloads)
    ]


def frames_of(ulaw: bytes, turn: int, kind: str, index: int, text: str) -> list[AgentFrame]:
    """Synthesised audio as the frames that carry it."""
    return frames_from(list(iter_frames(ulaw)), turn, kind, index, text)


class Playout:
    """The reply being spoken (one per session)."""

    def __init__(self, works: WorkLedger, render: Callable[..., bytes]) -> None:
        self._works = works
        self._render = render  # (text, first=...) -> μ-law audio
        self.outgoing: deque[AgentFrame] = deque()
        self.sentences: tuple[str, ...] = ()  # the reply's pieces, as voiced
        self.origin: list[int] = []  # piece -> the reply sentence it is part of
        self.next_sentence = 0  # the next piece to synthesise
        self.synthesising = False
        self.more: Any = None  # the rest of a streamed reply, sentence by sentence
        self.sent: tuple[int, int, float] | None = None  # (turn, sentence, progress) last sent
        self.piece_sent: list[AgentFrame] = []  # the sentence (or clause) in progress, so far
        self.heard: tuple[int, int, float] | None = None  # ... last heard, from the transport
        # The transcript line of each agent sentence sent whole, by (turn, sentence): a barge-in
        # takes back those the caller never heard (still in its buffer when Twilio cleared it).
        self.sentence_lines: dict[tuple[int, int], tuple[str, str]] = {}
        self.rephrasing = False  # a rephrased resume is being synthesised: hold the audio
        self._rephrase_target: tuple[int, int, str] = (0, 0, "")

    # ------------------------------------------------------------------ the reply's pieces

    def plan(self, pieces: list[tuple[int, str]], more: Any) -> None:
        """Speak these pieces (each with the reply sentence it is from), then any `more`."""
        self.sentences = tuple(part for _, part in pieces)
        self.origin = [index for index, _ in pieces]
        self.more = more
        self.next_sentence = 0

    def synthesise_next(self, turn: int) -> list[Output]:
        """Ask for the next piece's audio (or a streamed reply's next sentence)."""
        if self.next_sentence >= len(self.sentences):
            if self.more is not None:
                # A streamed reply (an LLM's): fetch its next sentence as it is produced.
                more = self.more
                self.synthesising = True
                return [self._works.new("respond_more", turn, lambda: next(more, None))]
            self.synthesising = False
            return []
        index = self.next_sentence
        sentence = self.sentences[index]
        self.next_sentence += 1
        self.synthesising = True
        render = self._render
        work = self._works.new(
            "tts_sentence",
            turn,
            lambda: render(sentence, first=index == 0),
            tokens=len(sentence.split()),
        )
        return [work]

    def synthesised(self, work: StageWork, ulaw: bytes) -> list[Output]:
        """The last piece asked for is synthesised: queue it, ask for the next."""
        index = self.next_sentence - 1
        self.queue(frames_of(ulaw, work.turn, "speech", index, self.sentences[index]))
        return self.synthesise_next(work.turn)

    def streamed(self, work: StageWork, sentence: Any) -> list[Output]:
        """A streamed reply's next sentence (None: the stream has ended)."""
        if sentence is None:
            self.more = None
            self.synthesising = False
            return []
        if not str(sentence).strip():
            return self.synthesise_next(work.turn)
        self.sentences = (*self.sentences, str(sentence))
        self.origin.append(self.origin[-1] + 1 if self.origin else 0)
        return self.synthesise_next(work.turn)

    def give_up(self) -> None:
        """Say none of the reply's pieces not yet queued."""
        self.next_sentence = len(self.sentences)

    def drop(self) -> None:
        """Say nothing more of this reply."""
        self.outgoing.clear()
        self.give_up()
        self.synthesising = False
        self.more = None

    # ------------------------------------------------------------------ frames

    def queue(self, frames: list[AgentFrame]) -> None:
        self.outgoing.extend(frames)

    def next_frame(self) -> AgentFrame | None:
        """The frame to send now (None while a rephrased resume is synthesised: it goes first)."""
        if self.rephrasing or not self.outgoing:
            return None
        frame = self.outgoing.popleft()
        if frame.kind == "speech":
            if self.sent is None or self.sent[:2] != (frame.turn, frame.sentence_index):
                self.piece_sent = []
            self.piece_sent.append(frame)
            self.sent = (frame.turn, frame.sentence_index, frame.progress)
        return frame

    def sent_whole(self, frame: AgentFrame, transcript: list[tuple[str, str]]) -> None:
        """`frame` ended its sentence: the sentence goes into the transcript."""
        line = ("agent", display_text(frame.text))
        transcript.append(line)
        self.sentence_lines[(frame.turn, frame.sentence_index)] = line

    # ------------------------------------------------------------------ what was heard

    def text_heard(self, current_turn: int) -> tuple[str, int, float, str]:
        """The agent's words the caller has heard in the current reply, where it was cut, and
        the words heard of the sentence it was cut in ("" when cut before its first word)."""
        position = self.heard if self.heard is not None else self.sent
        if position is None or position[0] != current_turn:
            return "", 0, 0.0, ""
        _, index, progress = position
        if index < 0 or index >= len(self.sentences):
            return "", 0, 0.0, ""
        words = display_text(self.sentences[index]).split()
        cut = " ".join(words[: int(round(len(words) * progress))])
        heard = [display_text(s) for s in self.sentences[:index]] + ([cut] if cut else [])
        return " ".join(heard), index, progress, cut

    def take_back_unheard(self, turn: int, first: int, transcript: list[tuple[str, str]]) -> None:
        """Drop from the transcript the sentences of `turn` from `first` on: sent whole, but
        the caller never heard them (over Twilio, a `clear` dropped them from its buffer)."""
        for (t, index), line in list(self.sentence_lines.items()):
            if t == turn and index >= first:
                del self.sentence_lines[(t, index)]
                at = next((i for i, kept in enumerate(transcript) if kept is line), None)
                if at is not None:
                    del transcript[at]

    # ------------------------------------------------------------------ resuming

    def rewind_to_word_start(self) -> tuple[float, str]:
        """After a pause, go back to the start of the word the pause cut (the last quiet
        frame between words in the sentence so far), so the caller hears it whole, once.
        Returns the audio played again (ms) and the sentence it resumes in."""
        outgoing = self.outgoing
        if not outgoing or outgoing[0].kind != "speech":
            return 0.0, ""
        upcoming = outgoing[0]
        frames = self.piece_sent
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

    def rephrase_cut_sentence(self, turn: int) -> tuple[StageWork | None, str, int]:
        """Replace the unheard rest of the cut sentence by "As I was saying, <the rest>",
        synthesised anew; its frames go to the front of the queue when ready. Returns the
        work, the new text and the index of the sentence it replaces.

        The cut is where the caller stopped hearing when the transport knows it (Twilio's
        marks: a `clear` may have dropped whole sentences the session had sent), else where
        the session stopped sending."""
        outgoing = self.outgoing
        if not outgoing or outgoing[0].kind != "speech" or outgoing[0].turn != turn:
            return None, "", -1
        upcoming = outgoing[0]
        heard = self.heard
        if heard is not None and heard[0] == turn and 0 <= heard[1] <= upcoming.sentence_index:
            index, progress = heard[1], heard[2]
        else:
            index = upcoming.sentence_index
            frames = self.piece_sent
            cut = frames and (frames[-1].turn, frames[-1].sentence_index) == (turn, index)
            progress = frames[-1].progress if cut else 0.0
        words = (self.sentences[index] if index < len(self.sentences) else upcoming.text).split()
        said = int(len(words) * progress)  # (the cut word is said again)
        rest = " ".join(words[said:]).strip()
        if not rest:
            return None, "", -1
        while outgoing and (outgoing[0].turn, outgoing[0].sentence_index) == (turn, index):
            outgoing.popleft()
        text = f"As I was saying, {rest[0].lower() + rest[1:] if rest[:2] != 'I ' else rest}"
        self.rephrasing = True
        render = self._render
        work = self._works.new("tts_rephrase", turn, lambda: render(text, first=True))
        self._rephrase_target = (turn, index, text)
        return work, display_text(text), index

    def rephrased(self, ulaw: bytes) -> None:
        """The rephrased rest is synthesised: it is the next thing sent."""
        self.rephrasing = False
        turn, index, text = self._rephrase_target
        self.outgoing.extendleft(reversed(frames_of(ulaw, turn, "speech", index, text)))
        self.piece_sent = []
        self.sent = None
