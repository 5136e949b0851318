"""A scripted caller over the wire: a scenario's steps played through `MediaStreamClient`.

`workbench call URL --scenario FILE` and `workbench bench serve` use it. The caller waits for
the agent's greeting, then for each `say` step speaks its line once the agent has been quiet
for `reply_gap_ms`, and hangs up after the last reply. `pause_ms`, `press`/`dtmf` and
`hang_up` steps are honoured when the scenario has them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.telephony.client import MediaStreamClient, Pacer

log = logging.getLogger(__name__)

REPLY_GAP_MS = 700.0  # the agent counts as finished after this much silence
PATIENCE_S = 12.0  # an agent that says nothing this long: go on anyway


@dataclass(frozen=True)
class CallStep:
    """One caller action: say a line (`pcm` already rendered), pause, press a key, hang up."""

    kind: str  # say | pause | press | hang_up
    text: str = ""
    pcm: np.ndarray | None = None
    pause_ms: float = 0.0
    digit: str = ""


@dataclass
class ScriptedCallResult:
    results: Any
    said: list[str] = field(default_factory=list)
    completed: bool = False
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = self.results.as_dict()
        data.update(said=self.said, completed=self.completed, error=self.error)
        return data


def steps_from_scenario(scenario: Any, render: Callable[[str], np.ndarray]) -> list[CallStep]:
    """The caller-side steps of a scenario (unknown step kinds are skipped with a log line)."""
    steps: list[CallStep] = []
    for step in scenario.steps:
        say = getattr(step, "say", None)
        if isinstance(say, str):
            steps.append(CallStep("say", text=say, pcm=render(say)))
        elif getattr(step, "pause_ms", None) is not None:
            steps.append(CallStep("pause", pause_ms=float(step.pause_ms)))
        elif getattr(step, "hang_up", None):
            steps.append(CallStep("hang_up"))
        elif getattr(step, "press", None) or getattr(step, "dtmf", None):
            digits = str(getattr(step, "press", None) or getattr(step, "dtmf", None))
            steps.extend(CallStep("press", digit=d) for d in digits)
        else:
            log.info("scenario step %r is not played over the wire; skipped", step)
    return steps


def scenario_renderer(voice: str, rate_wpm: int | None = None) -> Callable[[str], np.ndarray]:
    """Caller audio (8 kHz int16) in the scenario's voice, through the TTS cache."""
    from workbench.speech.tts import TelephoneTTS, load_synthesizer
    from workbench.speech.tts_cache import TTSCache

    tts = TelephoneTTS(load_synthesizer(voice, rate_wpm=rate_wpm), cache=TTSCache())
    return lambda text: tts.render_pcm(text, 8000)


def run_steps(
    client: MediaStreamClient,
    steps: Sequence[CallStep],
    *,
    reply_gap_ms: float = REPLY_GAP_MS,
    patience_s: float = PATIENCE_S,
    pacer: Pacer | None = None,
    wait_for_last_reply: bool = True,
) -> ScriptedCallResult:
    """Connect, play `steps`, hang up. The caller waits for the agent between lines."""
    own_pacer = pacer is None
    result = ScriptedCallResult(client.results)
    try:
        client.connect()
        if own_pacer:
            pacer = Pacer([client]).start()
        else:
            assert pacer is not None
            pacer.add(client)
        client.wait_for_agent_quiet(reply_gap_ms, patience_s)  # the greeting
        for step in steps:
            if client.closed.is_set():
                break
            if step.kind == "say" and step.pcm is not None:
                client.send_audio(step.pcm)
                result.said.append(step.text)
                client.wait_sent(len(step.pcm) / 8000.0 + 5.0)
                client.wait_for_agent_audio(patience_s)
                client.wait_for_agent_quiet(reply_gap_ms, patience_s)
            elif step.kind == "pause":
                client.wait_until(lambda: client.closed.is_set(), step.pause_ms / 1000.0)
            elif step.kind == "press":
                client.press(step.digit)
            elif step.kind == "hang_up":
                break
        else:
            if wait_for_last_reply:
                client.wait_for_agent_quiet(reply_gap_ms, patience_s)
        result.completed = True
    except Exception as error:  # reported, not raised: one failed call is a result in a bench
        result.error = f"{type(error).__name__}: {error}"
        log.warning("scripted call %s failed: %s", client.call_sid, result.error)
    finally:
        if pacer is not None and not own_pacer:
            pacer.remove(client)
        client.hang_up()
        if own_pacer and pacer is not None:
            pacer.stop()
    return result


def judge_expectations(scenario: Any, result: ScriptedCallResult) -> list[dict[str, Any]]:
    """The scenario's caller-side expectations, judged when the scenario package can.

    Uses `workbench.scenario.assertions.judge_caller_side(scenario, results)` if it exists;
    otherwise nothing can be judged from outside and the list is empty.
    """
    try:
        from workbench.scenario import assertions
    except ImportError:
        return []
    judge = getattr(assertions, "judge_caller_side", None)
    if judge is None:
        return []
    verdicts = judge(scenario, result.results)
    return [
        v if isinstance(v, dict) else getattr(v, "__dict__", {"verdict": str(v)}) for v in verdicts
    ]
