"""Small scripted callers for engine tests (the scenario language builds the real ones)."""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.audio.frames import SILENCE_FRAME
from workbench.engine.caller import CallerFrame, Utterance, first_audible_index, last_audible_index

GAP_MS = 300.0


class TalkOverGreetingCaller:
    """Waits until it has heard `into_ms` of the agent's greeting, then says `line` over it;
    records when its speech began and the last agent audio it heard after that."""

    def __init__(
        self, line: str, render: Any, *, into_ms: float = 1500.0, hang_up_after_ms: float = 9000.0
    ):
        self.number = "+14155550199"
        self._render = render
        self.line = line
        self.into_ms = into_ms
        self.hang_up_after_ms = hang_up_after_ms
        self.agent_audio_began: float | None = None
        self.speech_onset: float | None = None
        self.last_agent_audio: float | None = None
        self._utterance: Utterance | None = None
        self._spoke = False
        self._done = False
        self._t = 0.0
        self._quiet_since: float | None = None
        self._stop_settled = False

    @property
    def done(self) -> bool:
        return self._done

    def frame(self, t_ms: float) -> CallerFrame:
        self._t = t_ms
        if self.speech_onset is not None and t_ms - self.speech_onset > self.hang_up_after_ms:
            self._done = True
        if (
            not self._spoke
            and self.agent_audio_began is not None
            and t_ms - self.agent_audio_began >= self.into_ms
        ):
            self._spoke = True
            self._utterance = Utterance(self._render(self.line), self.line)
        if self._utterance is not None and not self._utterance.finished:
            start = self._utterance.position
            frame = self._utterance.next_frame(t_ms)
            chunk = self._utterance.pcm[start : start + 160]
            onset = first_audible_index(chunk)
            if self.speech_onset is None and onset is not None:
                self.speech_onset = t_ms + onset / 8.0
            return frame
        return CallerFrame(SILENCE_FRAME)

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        last = last_audible_index(pcm)
        if last is not None and self.agent_audio_began is None:
            self.agent_audio_began = t_ms
        if self.speech_onset is None or self._stop_settled:
            return
        # The agent's audio that was playing when the caller began: its end is where it
        # stopped (a gap of GAP_MS separates it from whatever the agent says next).
        if last is not None:
            if self._quiet_since is not None and t_ms - self._quiet_since >= GAP_MS:
                self._stop_settled = True
                return
            self.last_agent_audio = t_ms + (last + 1) / 8.0
            self._quiet_since = None
        elif self._quiet_since is None:
            self._quiet_since = t_ms

    def on_event(self, event: Any) -> None:
        pass
