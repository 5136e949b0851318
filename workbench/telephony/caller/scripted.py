"""A scripted caller over the wire: a scenario's steps played through `MediaStreamClient`.

Two ways to script a caller:

- `run_scenario_call` (`workbench call URL --scenario FILE`): the scenario package's
  `ScriptedCaller` decides every 20 ms frame from what it hears (say, barge-in, backchannel,
  DTMF, pauses…), and the expectations a caller can observe are judged;
- `run_steps` (`workbench bench serve`, tests): a list of `CallStep`s with pre-rendered audio;
  the caller waits for the greeting, says each line once the agent has been quiet for
  `reply_gap_ms`, and hangs up after the last reply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.audio.heard import REPLY_GAP_MS
from workbench.engine.outcomes import Intent
from workbench.stats import percentile
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

log = logging.getLogger(__name__)

PATIENCE_S = 12.0  # an agent that says nothing this long: go on anyway
# The caller's ear finishes its transcriptions after the call; on a machine busy with other
# calls a queue of them can take minutes (a bench of 27 calls on 2 cores lost 7 at 60 s).
EAR_FINISH_S = 600.0


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
                client.send_audio(step.pcm, intent="interruption")
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
        if client.results.refused:  # (the agent at capacity: a result, counted by the caller)
            log.debug("scripted call %s refused: %s", client.call_sid, result.error)
        else:
            log.warning("scripted call %s failed: %s", client.call_sid, result.error)
    finally:
        if pacer is not None and not own_pacer:
            pacer.remove(client)
        client.hang_up()
        if own_pacer and pacer is not None:
            pacer.stop()
    return result


@dataclass
class RemoteScenarioResult:
    """A scenario played against a remote endpoint: caller measurements and verdicts."""

    results: Any  # CallerResults
    caller_log: Any = None  # the scenario caller's CallerLog
    outcomes: list[dict[str, str]] = field(default_factory=list)
    error: str = ""
    heard: list[Any] = field(default_factory=list)  # the agent's turns as heard (caller_ear)

    @property
    def failed(self) -> bool:
        return bool(self.error) or any(o["status"] == "fail" for o in self.outcomes)

    def as_dict(self) -> dict[str, Any]:
        data = self.results.as_dict()
        data.update(outcomes=self.outcomes, error=self.error)
        if self.caller_log is not None:
            data["actions"] = [
                {"step": a.step + 1, "kind": a.kind, "label": a.label, "started_ms": a.started_ms}
                for a in self.caller_log.actions
            ]
        if self.heard:
            from workbench.telephony.caller.ear import heard_conversation

            actions = self.caller_log.actions if self.caller_log is not None else []
            data["conversation"] = heard_conversation(self.heard, actions)
        return data


def run_scenario_call(
    url: str,
    scenario: Any,
    *,
    token: str | None = None,
    max_call_s: float = 600.0,
    twilio_auth_token: str | None = None,
    signed_url: str | None = None,
    listen: bool = True,
    transcribe: Any = None,
    vocabulary: tuple[str, ...] = (),
    org: Any = None,
) -> RemoteScenarioResult:
    """Play a scenario's caller (`workbench.scenario.caller.ScriptedCaller`) over the wire.

    The scripted caller decides every 20 ms frame from what reaches its ear, so barge-ins,
    backchannels, DTMF, pauses and silences run as they do locally. With `listen` (default)
    the caller's ear (`ear.CallerEar`; `transcribe`: 8 kHz PCM → words, default the
    accurate ear, taught `vocabulary`: the agent's names) transcribes the agent audio it heard, so `wait_for: agent_said`,
    `agent_said` and `agent_never_said` are judged from the agent's words as heard; waits on
    agent internals (topic, handoff) cannot be seen from outside and time out. With `org` (a
    simple-salesforce client on the agent's org), `crm`, `topic` and `routed_to` are read from
    the records the call wrote (`org_expect.py`).
    """
    from workbench.engine import events as ev
    from workbench.scenario.caller import caller_render, scripted_caller_for
    from workbench.scenario.goal_caller import GoalCaller
    from workbench.telephony.caller.ear import CallerEar, accurate_transcriber

    caller = scripted_caller_for(scenario, caller_render(scenario))
    ear: CallerEar | None = None
    frame_source = caller.frame
    on_agent_audio = lambda pcm, t_ms: caller.hear(t_ms, pcm)  # noqa: E731
    client: MediaStreamClient
    if listen:
        # Words during the call only when the script waits for them (a goal-driven caller,
        # `wait_for: agent_said`); else after it, off the call's clock.
        live = hasattr(caller, "words_pending") or any(
            getattr(step, "wait_for", None) == "agent_said" for step in scenario.steps
        )
        ear = CallerEar(
            transcribe or accurate_transcriber(vocabulary),
            on_run=lambda run: caller.on_event(
                ev.AgentAudioStarted(client.call_sid, run.onset_ms, run.turn, run.text)
            ),
            live=live,
        )

        if isinstance(caller, GoalCaller):  # a goal-driven caller waits for the ear's words
            caller.words_pending = ear.pending

        def frame_source(t_ms: float) -> Any:
            frame = caller.frame(t_ms)
            ear.caller_frame(t_ms, frame.speech_end_ms)
            return frame

        def on_agent_audio(pcm: np.ndarray, t_ms: float) -> None:
            ear.heard(t_ms, pcm, client.results.clears_received)
            caller.hear(t_ms, pcm)

    client = MediaStreamClient(
        url,
        token=token,
        caller_number=scenario.caller.number,
        frame_source=frame_source,
        on_agent_audio=on_agent_audio,
        twilio_auth_token=twilio_auth_token,
        signed_url=signed_url,
        intent_of=lambda onset_ms: intent_of_action(caller.log),
    )
    result = RemoteScenarioResult(client.results, caller.log)
    pacer: Pacer | None = None
    try:
        client.connect()
        pacer = Pacer([client]).start()
        if not client.wait_until(lambda: caller.done, max_call_s):
            if not client.closed.is_set():
                result.error = f"the script did not finish within {max_call_s:g} s"
    except Exception as error:
        result.error = f"{type(error).__name__}: {error}"
    finally:
        if pacer is not None:
            pacer.stop()
        client.hang_up()
    if ear is not None:
        result.heard = ear.finish(EAR_FINISH_S)
        if ear.errors:
            result.error = result.error or f"the caller's ear failed: {ear.errors[0]}"
    heard = result.heard if ear is not None else None
    result.outcomes = judge_from_outside(
        scenario, client.results, caller.log, heard, org_judged=org is not None
    )
    if org is not None and scenario.expect is not None:
        from workbench.telephony.caller.org_expect import org_outcomes

        result.outcomes += org_outcomes(scenario.expect, client.call_sid, org)
    return result


# What the scripted caller means by the sound its step makes, when it lands over agent audio.
INTENT_OF_STEP: dict[str, Intent] = {
    "barge_in": "interruption",
    "backchannel": "acknowledgement",
    "say": "interruption",
    "say_wav": "interruption",
}


def intent_of_action(log_: Any) -> Intent | None:
    """The intent of the caller's latest action (the one whose voice just began): a barge-in
    or an ordinary line takes the turn, a backchannel acknowledges, any other sound is noise."""
    if not log_.actions:
        return None
    return INTENT_OF_STEP.get(log_.actions[-1].kind, "noise")


def _outcome(expectation: str, where: str, status: str, expected: str, evidence: str) -> dict:
    return {
        "expectation": expectation,
        "where": where,
        "status": status,
        "expected": expected,
        "evidence": evidence,
    }


def judge_from_outside(
    scenario: Any,
    results: Any,
    log_: Any,
    heard: list[Any] | None = None,
    *,
    org_judged: bool = False,
) -> list[dict[str, str]]:
    """The expectations a caller can judge from what it heard; the rest are skipped.

    `heard`: the agent's turns as the caller's ear transcribed them (None: not listening),
    for `agent_said` / `agent_never_said` on the call and on each step's window."""
    from workbench.telephony.caller.ear import heard_outcomes, step_windows

    out = [_outcome("script", "call", "fail", "runs as written", p) for p in log_.problems]
    if heard is not None:
        for step, (where, start, end) in step_windows(log_.actions).items():
            if step >= len(scenario.steps):
                continue  # a goal-driven caller's lines are not the scenario's steps
            step_expect = getattr(scenario.steps[step], "expect", None)
            if step_expect is not None:
                turns = [t for t in heard if start <= t.onset_ms < end]
                out += heard_outcomes(step_expect, turns, where)
    expect = getattr(scenario, "expect", None)
    if expect is None:
        return out
    if heard is not None:
        out += heard_outcomes(expect, heard, "call")
    latencies = list(results.turn_latencies_ms)
    limit = getattr(expect, "turn_latency_ms", None)
    if limit is not None:
        if not latencies:
            out.append(_outcome("turn_latency_ms", "call", "fail", str(limit), "no turn measured"))
        elif isinstance(limit, int | float):
            worst = max(latencies)
            out.append(
                _outcome(
                    "turn_latency_ms",
                    "call",
                    "pass" if worst <= limit else "fail",
                    f"≤ {limit:g} each",
                    f"worst {worst:.0f} ms over {len(latencies)} turns",
                )
            )
        else:
            for name, q in (("max", 100.0), ("p50", 50.0), ("p95", 95.0)):
                bound = getattr(limit, name, None)
                if bound is None:
                    continue
                value = percentile(latencies, q)
                out.append(
                    _outcome(
                        f"turn_latency_ms.{name}",
                        "call",
                        "pass" if value <= bound else "fail",
                        f"≤ {bound:g}",
                        f"{name} {value:.0f} ms over {len(latencies)} turns",
                    )
                )
    stop_limit = getattr(expect, "barge_in_stop_ms", None)
    if stop_limit is not None:
        items = [i for i in log_.interjections if i.kind == "barge_in"]
        if not items:
            out.append(
                _outcome(
                    "barge_in_stop_ms", "call", "fail", f"≤ {stop_limit:g}", "no barge_in step ran"
                )
            )
        for item in items:
            where = f"step {item.step + 1}: barge_in {item.text!r}"
            if item.stop_ms is None:
                out.append(
                    _outcome(
                        "barge_in_stop_ms",
                        where,
                        "fail",
                        f"≤ {stop_limit:g}",
                        "the agent's audio never stopped",
                    )
                )
            else:
                out.append(
                    _outcome(
                        "barge_in_stop_ms",
                        where,
                        "pass" if item.stop_ms <= stop_limit else "fail",
                        f"≤ {stop_limit:g}",
                        f"last agent audio {item.stop_ms:.0f} ms after onset",
                    )
                )
    for name in (
        *(() if org_judged else ("topic", "routed_to", "crm")),
        "entities",
        *(() if heard is not None else ("agent_said", "agent_never_said")),
        "no_false_interruptions",
        "reprompts",
        "end_reason",
    ):
        if getattr(expect, name, None) is not None:
            why = "not observable from the caller's side of the wire"
            if name in ("topic", "routed_to", "crm"):
                why = "no org configured (--org/--org-token or SF_INSTANCE_URL + SF_SESSION_ID)"
            out.append(_outcome(name, "call", "skip", str(getattr(expect, name)), why))
    return out
