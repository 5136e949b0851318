"""`ScriptedCaller`: a scenario's steps played as a caller, judged from what the caller hears.

It implements the engine's `Caller` protocol (one 20 ms frame out, one 20 ms frame heard, per
tick) and is transport-independent: it decides when to speak from the agent audio that
reaches its ear, never from the agent's internals, so the same object drives a local
virtual-time call and a remote agent over Twilio Media Streams. Engine events (`on_event`)
are used only where the step needs them (`wait_for agent_said/topic/handoff`); a transport
that reports no events makes those waits time out, saying why.

What the caller hears, in its own terms:

- the agent *speaks* while audible samples (> `AUDIBLE_THRESHOLD`) keep reaching the ear; a
  run of speech ends after `reply_gap_ms` of quiet, and the next audible sample starts a new
  run (the "agent's current speech" that `barge_in`/`backchannel` are timed against);
- the agent has *finished its reply* once it was heard after the caller's last action and
  has then been quiet for `reply_gap_ms` (or nothing came for `reply_timeout_ms`).

Everything the caller did and measured is in `log` (a `CallerLog`): its actions with their
speech onset/end times, and for each barge-in/backchannel the agent speech it was timed
against and when the agent's audio stopped at the caller's ear (`stop_ms`: caller speech
onset → end of the last agent audio heard before a `reply_gap_ms` quiet).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_MS, FRAME_SAMPLES, SILENCE_FRAME
from workbench.audio.heard import REPLY_GAP_MS, first_audible_index, last_audible_index
from workbench.engine import events as ev
from workbench.engine.caller import CallerFrame, interruption_onset_index
from workbench.engine.overlaps import CallerSound
from workbench.scenario import schema as sc
from workbench.scenario.caller_log import CallerAction, CallerLog, Interjection

log = logging.getLogger(__name__)

SAMPLE_MS = 1000.0 / 8000.0
# What a step's sound over the agent means (`engine/outcomes.py`'s intents).
INTENTS = {"barge_in": "interruption", "backchannel": "acknowledgement", "sound": "noise"}
DTMF_TONE_MS = 100.0


# ---------------------------------------------------------------- activities


@dataclass
class _Activity:
    step: int
    kind: str
    model: Any
    phase: str = "start"
    started_ms: float = 0.0
    action: CallerAction | None = None
    pcm: np.ndarray | None = None
    position: int = 0
    until_ms: float = 0.0
    target_ms: float | None = None
    digits: str = ""
    next_digit_ms: float = 0.0
    interjection: Interjection | None = None


class ScriptedCaller:
    """Plays `steps` (scenario steps) as a caller; see the module docstring."""

    def __init__(
        self,
        steps: list[Any] | tuple[Any, ...],
        render: Callable[[str], np.ndarray],
        *,
        number: str = "+14155550199",
        load_wav: Callable[[str], np.ndarray] | None = None,
        noise: np.ndarray | None = None,
        snr_db: float | None = None,
        noise_offset: int = 0,
        reply_gap_ms: float = REPLY_GAP_MS,
        reply_timeout_ms: float = 10000.0,
    ) -> None:
        self.number = number
        self.steps = list(steps)
        self.reply_gap_ms = reply_gap_ms
        self.reply_timeout_ms = reply_timeout_ms
        self.log = CallerLog()
        self._audio: dict[int, np.ndarray] = {}
        for index, step in enumerate(self.steps):
            text = _spoken_text(step)
            if text is not None:
                self._audio[index] = np.asarray(render(text), dtype=np.int16)
            elif isinstance(step, sc.SoundStep):
                self._audio[index] = _nonspeech(step.sound, index)
            elif isinstance(step, sc.SayWavStep):
                if load_wav is None:
                    raise ValueError("a say_wav step needs load_wav")
                self._audio[index] = np.asarray(load_wav(step.say_wav), dtype=np.int16)
        self._noise = None
        if noise is not None and snr_db is not None:
            from workbench.scenario.noise import active_rms, gain_for_snr

            levels = [active_rms(pcm) for pcm in self._audio.values()]
            speech_rms = float(np.mean([v for v in levels if v > 0] or [2000.0]))
            self._noise = np.asarray(noise, dtype=np.float32) * gain_for_snr(speech_rms, snr_db)
        self._noise_position = noise_offset % len(noise) if noise is not None and len(noise) else 0
        self._index = 0
        self._activity: _Activity | None = None
        self._done = False
        self._pending_network: Any = None
        # What the caller has heard.
        self._run_onset: float | None = None  # start of the agent's current speech run
        self._last_audible_end: float | None = None
        # Waiting for the agent's reply to the caller's last action.
        self._listen_from = 0.0
        self._reply_expected = True
        self._last_action_start = 0.0
        self._events: list[ev.Event] = []
        self._measuring: list[Interjection] = []

    # ------------------------------------------------------------ Caller protocol

    @property
    def done(self) -> bool:
        return self._done

    def frame(self, t_ms: float) -> CallerFrame:
        network, self._pending_network = None, None
        dtmf: str | None = None
        clean: np.ndarray | None = None
        speech_end: float | None = None
        for _ in range(len(self.steps) + 2):  # zero-time steps run back to back in one tick
            activity = self._current(t_ms)
            if activity is None:
                break
            outcome = self._step(activity, t_ms)
            if self._pending_network is not None:
                network, self._pending_network = self._pending_network, None
            if outcome is None:  # finished at once: go on to the next step in this tick
                continue
            kind, value = outcome
            if kind == "audio":
                clean, speech_end = value
            elif kind == "dtmf":
                dtmf = value
            break
        return CallerFrame(self._payload(clean), speech_end, dtmf, network)

    def hear(self, t_ms: float, pcm: np.ndarray) -> None:
        first = first_audible_index(pcm)
        waits = self.log.waits
        if first is not None and waits and waits[-1][1] is None and t_ms > waits[-1][0]:
            waits[-1] = (waits[-1][0], t_ms + first * SAMPLE_MS)
        if first is not None:
            start = t_ms + first * SAMPLE_MS
            end = t_ms + (last_audible_index(pcm) + 1) * SAMPLE_MS
            runs = self.log.agent_heard
            if runs and start - runs[-1][1] < 1.5 * FRAME_MS:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((start, end))
            if (
                self._last_audible_end is None
                or start - self._last_audible_end >= self.reply_gap_ms
            ):
                self._run_onset = start
            self._last_audible_end = t_ms + (last_audible_index(pcm) + 1) * SAMPLE_MS
        for item in list(self._measuring):
            onset = item.measured_from_ms
            if onset is None or t_ms < onset:
                continue
            last = self._last_audible_end
            if last is not None and last > onset:
                item.last_agent_audio_ms = last
            heard_until = t_ms + FRAME_MS
            quiet_since = max(item.last_agent_audio_ms or onset, onset)
            if heard_until - quiet_since >= self.reply_gap_ms:
                item.stop_ms = max(0.0, quiet_since - onset)
                self._measuring.remove(item)

    def caller_sounds(self) -> list[CallerSound]:
        """The sounds it made over the agent, with what each meant (for `CallResult.overlaps`)."""
        sounds = []
        for item in self.log.interjections:
            onset = item.measured_from_ms
            if onset is None or not item.agent_audible_at_onset:
                continue  # never said, or said in a silence: no overlap
            sounds.append(CallerSound(INTENTS[item.kind], onset, item.speech_end_ms))
        return sounds

    def on_event(self, event: Any) -> None:
        if isinstance(
            event,
            ev.ResponseStarted
            | ev.AgentAudioStarted
            | ev.FillerStarted
            | ev.TopicDecided
            | ev.HandoffRequested,
        ):
            self._events.append(event)

    # ------------------------------------------------------------ the script

    def _current(self, t_ms: float) -> _Activity | None:
        if self._done:
            return None
        if self._activity is None:
            if self._index >= len(self.steps):
                # The script is over: hang up once the agent has answered the last action.
                if self._reply_finished(t_ms):
                    self._done = True
                return None
            step = self.steps[self._index]
            self._activity = _Activity(self._index, sc.step_kind(step), step, started_ms=t_ms)
            self._index += 1
            self.log.steps_reached = self._index
        return self._activity

    def _finish(self, activity: _Activity, t_ms: float) -> None:
        if activity.action is not None:
            activity.action.ended_ms = t_ms
        self._activity = None

    def _begin_action(self, activity: _Activity, t_ms: float, text: str = "") -> CallerAction:
        action = CallerAction(
            activity.step, activity.kind, sc.describe_step(activity.model), t_ms, text
        )
        activity.action = action
        self.log.actions.append(action)
        self._last_action_start = t_ms
        return action

    def _step(self, activity: _Activity, t_ms: float) -> tuple[str, Any] | None:
        """Advance the current step; ("audio", …)/("dtmf", d)/("quiet", None), or None when done."""
        kind, model = activity.kind, activity.model
        if kind in ("say", "say_wav", "silence", "dtmf", "hang_up") and activity.phase == "start":
            if not model.now and not self._reply_finished(t_ms):
                return ("quiet", None)
            activity.phase = "go"
        if kind in ("say", "say_wav"):
            return self._speak(activity, t_ms, reply_expected=True)
        if kind in ("barge_in", "backchannel", "sound"):
            return self._interject(activity, t_ms)
        if kind == "pause":
            if activity.phase == "start":
                activity.phase = "quiet"
                activity.until_ms = t_ms + model.pause_ms
                self._begin_action(activity, t_ms)
            if t_ms + FRAME_MS / 2 >= activity.until_ms:
                self._finish(activity, t_ms)
                return None
            return ("quiet", None)
        if kind == "silence":
            if activity.phase == "go":
                activity.phase = "quiet"
                activity.until_ms = t_ms + model.silence_s * 1000.0
                self._begin_action(activity, t_ms)
                self._listen_from, self._reply_expected = t_ms, False
            if t_ms + FRAME_MS / 2 >= activity.until_ms:
                self._finish(activity, t_ms)
                return None
            return ("quiet", None)
        if kind == "dtmf":
            if activity.phase == "go":
                activity.phase = "keys"
                activity.digits = model.dtmf
                activity.next_digit_ms = t_ms
                self._begin_action(activity, t_ms)
            if activity.digits and t_ms + FRAME_MS / 2 >= activity.next_digit_ms:
                digit, activity.digits = activity.digits[0], activity.digits[1:]
                activity.next_digit_ms = t_ms + model.interval_ms
                if not activity.digits:
                    activity.until_ms = t_ms + DTMF_TONE_MS
                return ("dtmf", digit.upper())
            if not activity.digits and t_ms >= activity.until_ms:
                self._listen_from, self._reply_expected = t_ms, True
                self._finish(activity, t_ms)
                return None
            return ("quiet", None)
        if kind == "wait_for":
            return self._wait(activity, t_ms)
        if kind == "network":
            self._begin_action(activity, t_ms)
            self._pending_network = sc.network_conditions(model.network)
            self._finish(activity, t_ms)
            return None
        if kind == "hang_up":
            self._begin_action(activity, t_ms)
            self._finish(activity, t_ms)
            self._done = True
            return ("quiet", None)
        raise AssertionError(f"unknown step kind {kind}")

    def _speak(
        self, activity: _Activity, t_ms: float, *, reply_expected: bool
    ) -> tuple[str, Any] | None:
        if activity.pcm is None:
            activity.pcm = _padded(self._audio[activity.step])
            text = (
                _spoken_text(activity.model)
                or getattr(activity.model, "sound", None)
                or activity.model.say_wav
            )
            action = self._begin_action(activity, t_ms, text)
            lead = first_audible_index(activity.pcm)
            action.onset_ms = None if lead is None else t_ms + lead * SAMPLE_MS
        chunk = activity.pcm[activity.position : activity.position + FRAME_SAMPLES]
        activity.position += FRAME_SAMPLES
        last = last_audible_index(chunk)
        speech_end = None if last is None else t_ms + (last + 1) * SAMPLE_MS
        action = activity.action
        assert action is not None
        if speech_end is not None:
            action.speech_end_ms = speech_end
        if activity.position >= len(activity.pcm):
            end = t_ms + FRAME_MS
            self._finish(activity, end)
            self._listen_from = end
            if reply_expected:
                self._reply_expected = True
                if action.speech_end_ms is not None:
                    self.log.waits.append((action.speech_end_ms, None))
            if activity.interjection is not None:
                activity.interjection.speech_end_ms = action.speech_end_ms
        return ("audio", (chunk, speech_end))

    def _interject(self, activity: _Activity, t_ms: float) -> tuple[str, Any] | None:
        model = activity.model
        text = {"barge_in": "barge_in", "backchannel": "backchannel", "sound": "sound"}
        text = getattr(model, text[activity.kind])
        if activity.interjection is None:
            activity.interjection = Interjection(activity.step, activity.kind, text, model.at_ms)
            self.log.interjections.append(activity.interjection)
        item = activity.interjection
        if activity.phase == "start":
            # Wait for the agent's speech: a run that began since this step, or one going on.
            speaking_now = (
                self._last_audible_end is not None and t_ms - self._last_audible_end < 200.0
            )
            if self._run_onset is not None and (
                self._run_onset >= activity.started_ms or speaking_now
            ):
                item.agent_onset_ms = self._run_onset
                lead = first_audible_index(self._audio[activity.step]) or 0
                activity.target_ms = self._run_onset + model.at_ms - lead * SAMPLE_MS
                activity.phase = "timed"
            elif t_ms - activity.started_ms >= self.reply_timeout_ms:
                self.log.problems.append(
                    f"step {activity.step + 1} ({sc.describe_step(model)}): the agent did not "
                    f"speak within {self.reply_timeout_ms:g} ms, so it was not said"
                )
                self._finish(activity, t_ms)
                return None
            else:
                return ("quiet", None)
        if activity.phase == "timed":
            assert activity.target_ms is not None
            if t_ms + FRAME_MS / 2 < activity.target_ms:
                return ("quiet", None)
            activity.phase = "speaking"
        first_frame = activity.pcm is None
        outcome = self._speak(activity, t_ms, reply_expected=activity.kind == "barge_in")
        if first_frame:
            assert activity.action is not None
            item.onset_ms = activity.action.onset_ms
            if activity.kind == "barge_in":
                proper = interruption_onset_index(activity.pcm, text)
                if proper is not None:
                    item.interruption_onset_ms = t_ms + proper * SAMPLE_MS
            item.agent_audible_at_onset = (
                self._last_audible_end is not None
                and item.onset_ms is not None
                and item.onset_ms - self._last_audible_end < 300.0
            )
            item.last_agent_audio_ms = self._last_audible_end
            self._measuring.append(item)
            if activity.kind in ("backchannel", "sound"):
                # The agent carries on with its reply: that reply is what the next step awaits.
                self._listen_from, self._reply_expected = t_ms, False
        return outcome

    def _wait(self, activity: _Activity, t_ms: float) -> tuple[str, Any] | None:
        model = activity.model
        if activity.action is None:
            self._begin_action(activity, t_ms)
        since = self._last_action_start
        satisfied = False
        if model.wait_for == "agent_starts_speaking":
            satisfied = self._last_audible_end is not None and (
                self._last_audible_end >= max(activity.started_ms, self._listen_from)
            )
        elif model.wait_for == "agent_stops_speaking":
            satisfied = self._heard_since(self._listen_from) and self._quiet_for(t_ms)
        elif model.wait_for == "agent_said":
            said_at = next(
                (e.t_ms for e in self._events if e.t_ms >= since and _said(e, model.pattern)),
                None,
            )
            satisfied = said_at is not None and self._heard_since(said_at)
        elif model.wait_for == "topic":
            satisfied = any(
                isinstance(e, ev.TopicDecided) and e.t_ms >= since and e.topic == model.topic
                for e in self._events
            )
        elif model.wait_for == "handoff":
            satisfied = any(
                isinstance(e, ev.HandoffRequested) and e.t_ms >= since for e in self._events
            )
        if satisfied:
            self._finish(activity, t_ms)
            return None
        if t_ms - activity.started_ms >= model.timeout_ms:
            needs_events = model.wait_for in ("agent_said", "topic", "handoff") and not self._events
            self.log.problems.append(
                f"step {activity.step + 1} ({sc.describe_step(model)}): timed out after "
                f"{model.timeout_ms:g} ms (at {t_ms / 1000:.1f} s)"
                + (" — this transport reports no engine events" if needs_events else "")
            )
            self._finish(activity, t_ms)
            return None
        return ("quiet", None)

    # ------------------------------------------------------------ hearing

    def _heard_since(self, t_ms: float) -> bool:
        return self._last_audible_end is not None and self._last_audible_end > t_ms

    def _quiet_for(self, t_ms: float) -> bool:
        return self._last_audible_end is None or t_ms - self._last_audible_end >= self.reply_gap_ms

    def _reply_finished(self, t_ms: float) -> bool:
        """The agent has answered the caller's last action (or will not)."""
        if self._heard_since(self._listen_from):
            return self._quiet_for(t_ms)
        if not self._reply_expected:
            return self._quiet_for(t_ms)
        return t_ms - self._listen_from >= self.reply_timeout_ms

    # ------------------------------------------------------------ audio out

    def _payload(self, clean: np.ndarray | None) -> bytes:
        if self._noise is None:
            return SILENCE_FRAME if clean is None else ulaw_encode(clean)
        n = len(self._noise)
        idx = (self._noise_position + np.arange(FRAME_SAMPLES)) % n
        self._noise_position = (self._noise_position + FRAME_SAMPLES) % n
        mixed = self._noise[idx].astype(np.float64)
        if clean is not None:
            mixed = mixed + clean.astype(np.float64)
        return ulaw_encode(np.clip(np.round(mixed), -32768, 32767).astype(np.int16))


def _spoken_text(step: Any) -> str | None:
    for name in ("say", "barge_in", "backchannel"):
        value = getattr(step, name, None)
        if isinstance(value, str):
            return value
    return None


def _nonspeech(name: str, seed: int) -> np.ndarray:
    """A bundled non-speech sound at the level `bench vad` labels it (a cough peaks at about
    three times a caller's speech level), 8 kHz int16."""
    from workbench.speech import labelled_lines as ll
    from workbench.speech import nonspeech

    low, high = ll.TRANSIENT_PEAK[name]
    sound = nonspeech.TRANSIENTS[name](seed) * ll.SPEECH_RMS * (low + high) / 2.0
    return np.clip(np.round(sound), -32768, 32767).astype(np.int16)


def _padded(pcm: np.ndarray) -> np.ndarray:
    pad = (-len(pcm)) % FRAME_SAMPLES
    return np.concatenate([pcm, np.zeros(pad, np.int16)]) if pad else pcm


def _said(event: ev.Event, pattern: str) -> bool:
    from workbench.speech.numbers import display_text

    if isinstance(event, ev.ResponseStarted):
        texts = list(event.sentences)
    elif isinstance(event, ev.AgentAudioStarted | ev.FillerStarted):
        texts = [event.text]
    else:
        return False
    return any(sc.text_matches(pattern, display_text(text)) for text in texts)


def scripted_caller_for(
    scenario: sc.Scenario, render: Callable[[str], np.ndarray], **options: Any
) -> ScriptedCaller:
    """The caller a scenario describes, speaking through `render(text) -> 8 kHz int16 PCM`.

    For transports other than the local driver (e.g. `workbench call URL --scenario FILE`):
    `render` may come from `caller_render(scenario)`.
    """
    noise = None
    if scenario.noise is not None:
        from workbench.scenario.noise import load_noise

        sound = scenario.noise.sound
        if sound not in sc.BUNDLED_NOISES:
            sound = str(scenario.resolve(sound))
        noise = load_noise(sound, scenario.seed)
    cls: Any = ScriptedCaller
    extra: dict[str, Any] = {}
    if scenario.goal is not None:  # a caller that answers by rules once its steps have run
        from workbench.scenario.goal_caller import GoalCaller

        cls, extra = GoalCaller, {"goal": scenario.goal}
    return cls(
        scenario.steps,
        render,
        **extra,
        number=scenario.caller.number,
        load_wav=lambda relative: load_wav_8k(scenario.resolve(relative)),
        noise=noise,
        snr_db=scenario.noise.snr_db if scenario.noise is not None else None,
        noise_offset=scenario.seed * 7919,
        reply_timeout_ms=scenario.caller.reply_timeout_ms,
        **options,
    )


def caller_render(scenario: sc.Scenario) -> Callable[[str], np.ndarray]:
    """The scenario caller's voice without a speech stack (cached TTS, 8 kHz PCM)."""
    from workbench.speech.tts import TelephoneTTS, load_synthesizer
    from workbench.speech.tts_cache import TTSCache

    tts = TelephoneTTS(
        load_synthesizer(scenario.caller.voice, rate_wpm=scenario.caller.rate_wpm), None, TTSCache()
    )
    return lambda text: tts.render_pcm(text, 8000)


def load_wav_8k(path: Path) -> np.ndarray:
    from workbench.audio.resample import resample
    from workbench.audio.wav import read_wav

    audio = read_wav(path)
    if audio.sample_rate == 8000:
        return audio.samples
    return resample(audio.samples, audio.sample_rate, 8000)
