"""Fakes for testing the call session's logic without speech models. Each is named Fake*."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.agent import Reply, Understanding
from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_SAMPLES, iter_frames
from workbench.speech.stt import Transcript, Word


def tone_frame(amplitude: int = 8000, hz: float = 440.0) -> bytes:
    t = np.arange(FRAME_SAMPLES) / 8000.0
    return ulaw_encode((amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16))


class FakeVad:
    """Speech is any frame louder than a threshold; a start is confirmed at once, an end after
    `stop_frames` quiet frames (like a real VAD's hysteresis)."""

    def __init__(self, stop_frames: int = 1) -> None:
        self.is_speech = False
        self.stop_frames = stop_frames
        self._quiet = 0

    def frame_is_speech(self, pcm: np.ndarray) -> bool:
        return bool(np.abs(pcm.astype(np.int32)).max() > 1000)

    def process(self, pcm: np.ndarray, t_ms: float):
        from workbench.speech.vad import VadSpeechEnd, VadSpeechStart

        speech = self.frame_is_speech(pcm)
        self._quiet = 0 if speech else self._quiet + 1
        if speech and not self.is_speech:
            self.is_speech = True
            return VadSpeechStart(t_ms)
        if not speech and self.is_speech and self._quiet >= self.stop_frames:
            self.is_speech = False
            return VadSpeechEnd(t_ms)
        return None

    def idle(self, pcm: np.ndarray, t_ms: float, *, speech: bool) -> None:
        """As the onset detector while the agent is quiet: this fake costs nothing to run."""
        self.process(pcm, t_ms)


class FakeRecognizer:
    """Hears `text` whatever it is fed; the partial grows word by word."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.fed = 0

    def begin_utterance(self) -> None:
        self.fed = 0

    def feed(self, pcm16k: np.ndarray) -> str | None:
        self.fed += 1
        words = self.text.split()
        return " ".join(words[: min(len(words), self.fed // 5 + 1)])

    def end_utterance(self) -> Transcript:
        return Transcript(self.text, tuple(Word(w, 0.0, 0.0) for w in self.text.split()), 0.9)


class FakeFinalPass:
    """The accurate ear's final pass: hears `text` in any audio, and remembers what it was
    given (samples per call), so tests can tell which audio a transcript came from."""

    name = "fake final pass"

    def __init__(self, text: str) -> None:
        self.text = text
        self.heard_samples: list[int] = []
        self.contexts: list[str] = []  # what the agent had just said, per pass

    def transcribe(
        self, pcm16k: np.ndarray, *, word_times: bool = False, skip: Any = None, context: str = ""
    ) -> Transcript | None:
        if skip is not None and skip():
            return None
        self.heard_samples.append(len(pcm16k))
        self.contexts.append(context)
        return Transcript(self.text, tuple(Word(w, 0.0, 0.0) for w in self.text.split()), 0.9)


class FakeTTS:
    """Each sentence is 100 ms of tone per word."""

    def render(self, text: str) -> bytes:
        return b"".join(tone_frame() for _ in range(5 * len(text.split())))


@dataclass
class FakeSpeechStack:
    heard_text: str = "what are your opening hours"
    agent_tts: FakeTTS = field(default_factory=FakeTTS)

    vad_stop_frames: int = 1
    final_text: str = "what are your opening hours on saturday"
    fake_final_pass: FakeFinalPass | None = None

    def final_pass(self) -> FakeFinalPass:
        if self.fake_final_pass is None:
            self.fake_final_pass = FakeFinalPass(self.final_text)
        return self.fake_final_pass

    def new_vad(self, **_: object) -> FakeVad:
        return FakeVad(self.vad_stop_frames)

    def new_onset_detector(self) -> FakeVad:
        return FakeVad(self.vad_stop_frames)

    def acquire_recognizer(self) -> FakeRecognizer:
        return FakeRecognizer(self.heard_text)

    def release_recognizer(self, recognizer: object) -> None:
        pass

    def filler_frames(self, text: str) -> list[bytes]:
        return list(iter_frames(self.agent_tts.render(text)))

    def first_pieces(self, sentence: str) -> list[str]:
        return [sentence]

    def render_agent_speech(self, sentence: str, *, first: bool = False) -> bytes:
        return self.agent_tts.render(sentence)


class FakeConversation:
    def __init__(self) -> None:
        self.intended_crm_actions = [{"object": "Task", "fields": {"Subject": "Call back"}}]
        self.outcome = None
        self.escalation_summary = ""


class FakeAgent:
    """Always understands OpeningHours and answers with one fixed sentence."""

    name = "Fake Agent"

    def new_conversation(self, caller: object = None) -> FakeConversation:
        return FakeConversation()

    def greet(self, conversation: FakeConversation) -> Reply:
        return Reply(sentences=("Hello.",), plan="greeting")

    def understand(self, text: str) -> Understanding:
        return Understanding(text, "OpeningHours", 0.9, "Unknown", 0.05)

    def retrieve(self, text: str, k: int = 3) -> list:
        return []

    def reply(self, conversation, text, understanding, chunks) -> Reply:
        return Reply(
            sentences=("We open at nine.", "Anything else?"), plan="answer", topic="OpeningHours"
        )

    def no_input(self, conversation) -> Reply:
        return Reply(sentences=("Are you still there?",), plan="no input")
