"""Scenario files turned into load-test call plans, and one synthetic call played from a plan.

A `CallPlan` is a scenario with its caller audio pre-rendered once per process (TTS through
the on-disk `TTSCache`, or a synthetic voice for generator benches) and pre-encoded for
sending. `play_call` runs one call from a plan on a `LocustCall` and reports what the caller
measured through `report(name, value_ms, ok, cause)`:

- `call_setup`: WebSocket connect + upgrade;
- `ttfa`: `start` → the greeting's first audible sample at the caller's ear;
- `response_latency`: end of the caller's speech (or last key) → first audible agent sample
  played, per turn;
- `barge_in_stop`: barge-in speech onset (after a leading "Yeah,": of the words after it) →
  end of the last agent audio heard after it;
- `overlap`: each time the caller's voice began over agent audio, what became of it, judged at
  the caller's ear by `workbench.telephony.caller.overlaps.OverlapTracker` (as `workbench call` does)
  with the caller's intent (a barge-in or a line: an interruption; a backchannel: an
  acknowledgement): yielded, resumed (with its resume gap), abandoned reply or talked over.
  Value: the stop latency (0 when talked over); ok: the outcome was right (an interruption
  yielded to, an acknowledgement that did not cost the reply); the outcome in the cause
  (`loadreport.overlap_sample_cause`). A backchannel the agent paused for and then resumed
  is fine (before, any `clear` after a backchannel was a failed `false_interruption`);
- `call`: completed (value = call duration) or failed with its cause;
- `call_refused`: the agent at capacity refused the call before any audio (HTTP 503 or 429):
  value = time to the refusal, cause = the answer; apart from failed calls, no `call` sample
  (any other refused upgrade — 401/403: unsigned, wrong token — is a failed call).

A measure that does not apply is reported as such (`report(name, NaN, True, "not applicable:
…")`), never as a number: a barge-in or backchannel that found the agent silent (no agent
audio once the caller began), a turn whose caller stopped while the agent was still talking
(no reply to time).

Step kinds played: say, say_wav, pause_ms, silence_s, dtmf, barge_in, backchannel, hang_up,
wait_for agent_starts_speaking / agent_stops_speaking. `wait_for agent_said|topic|handoff`
need the agent's internals and `network` a simulated leg; both are skipped (logged once).

Weights: a scenario tag `weight:N` (e.g. `tags: [smoke, "weight:5"]`) makes it N times as
likely as a scenario with the default weight 1.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.engine.outcomes import OverlapOutcome
from workbench.loadreport import OVERLAP, overlap_sample_cause
from workbench.scenario import schema as sc
from workbench.telephony.caller.listened import HeardExpectation

log = logging.getLogger(__name__)

Report = Callable[[str, float, bool, str], None]
SYNTHETIC_VOICE = "synthetic"
REFUSED = "call_refused"
BUSY_STATUSES = (503, 429)  # the agent's "at capacity, call again later"
NOT_APPLICABLE = "not applicable: "  # (as workbench.loadreport.NOT_APPLICABLE)
RESUME_WAIT_S = 3.0  # after a backchannel the agent stopped for, wait this long for it to go on
# Steps after which the agent's reply is theirs (as `workbench.telephony.caller.ear`'s; a
# backchannel is not one, and `say_wav` is played as `say`).
WINDOW_KINDS = ("say", "silence", "dtmf", "barge_in", "hang_up")


def report_not_applicable(report: Report, name: str, reason: str) -> None:
    report(name, math.nan, True, NOT_APPLICABLE + reason)


@dataclass(frozen=True)
class PlanStep:
    kind: str
    utterance: Any = None  # call_records.EncodedUtterance for say/barge_in/backchannel
    value: float = 0.0  # pause/silence ms, at_ms, interval ms
    digits: str = ""
    wait: str = ""
    now: bool = False


@dataclass(frozen=True)
class CallPlan:
    name: str
    weight: float
    steps: tuple[PlanStep, ...]
    caller_number: str
    reply_timeout_s: float
    expected_intent: str | None
    # `agent_said` / `agent_never_said`, judged on the words of calls that `--listen` samples
    heard: tuple[HeardExpectation, ...] = ()


def scenario_weight(scenario: sc.Scenario) -> float:
    """`weight:N` from the tags (default 1)."""
    for tag in scenario.tags:
        if tag.startswith("weight:"):
            try:
                return max(0.0, float(tag.split(":", 1)[1]))
            except ValueError:
                log.warning("%s: bad weight tag %r; using 1", scenario.name, tag)
    return 1.0


def expected_intent(scenario: sc.Scenario) -> str | None:
    """The intent the call's VoiceCall should carry: the scenario's `crm` expectation of
    `VoiceCall.Intent__c`, else the call-level `expect.topic` (the topic the call settled on);
    None when the scenario does not say (not checked)."""
    for check in scenario.expect.crm or ():
        if check.object == "VoiceCall":
            value = check.expected_fields().get("Intent__c")
            if isinstance(value, str) and not sc.is_regex(value):
                return value
    return scenario.expect.topic


def synthetic_render(text: str) -> np.ndarray:
    """A deterministic speech-like sound (no TTS): ~55 ms per character of syllable bursts.

    For generator benches and tests against targets that only need audible audio.
    """
    seconds = min(4.0, 0.3 + 0.055 * len(text))
    t = np.arange(int(seconds * 8000)) / 8000.0
    seed = sum(map(ord, text)) % 50
    tone = np.sin(2 * np.pi * (180 + seed) * t) + 0.5 * np.sin(2 * np.pi * (2 * 180 + seed) * t)
    envelope = np.clip(np.sin(2 * np.pi * 4.0 * t), 0.15, 1.0)
    pcm = 6000.0 * tone * envelope
    return np.concatenate([pcm.astype(np.int16), np.zeros(1600, np.int16)])  # 200 ms tail


def load_plans(
    paths: Sequence[Path],
    *,
    voice: str | None = None,
    render_audio: bool = True,
    only: Sequence[str] = (),
) -> list[CallPlan]:
    """Plans for every scenario under `paths` (weight > 0). `voice`: `synthetic`, a TTS voice,
    or None for each scenario's own caller voice. Without `render_audio` no TTS runs (the
    master only needs names, weights and intents)."""
    from call_records import EncodedUtterance

    plans = []
    renderers: dict[tuple[str, int | None], Callable[[str], np.ndarray]] = {}
    for path in sc.find_scenarios(list(paths)):
        scenario = sc.load_scenario(path)
        if only and scenario.name not in only:
            continue
        weight = scenario_weight(scenario)
        if weight <= 0:
            continue
        render: Callable[[str], np.ndarray] | None = None
        if render_audio:
            chosen = voice or scenario.caller.voice
            key = (chosen, scenario.caller.rate_wpm)
            if key not in renderers:
                renderers[key] = _renderer(chosen, scenario.caller.rate_wpm)
            render = renderers[key]
        steps = []
        skipped = set()
        heard = [_heard_expectation(scenario.expect, "call", None)]
        for number, step in enumerate(scenario.steps, 1):
            kind = sc.step_kind(step)
            if kind in ("say", "say_wav", "barge_in", "dtmf"):
                label = f"step {number}: {kind} {getattr(step, kind)!r}"
                heard.append(_heard_expectation(getattr(step, "expect", None), label, len(steps)))
            text = getattr(step, kind, None) if kind in ("say", "barge_in", "backchannel") else None
            if isinstance(text, str):
                utt = EncodedUtterance.from_pcm(text, render(text)) if render else None
                at = getattr(step, "at_ms", 0.0)
                steps.append(PlanStep(kind, utt, value=at, now=getattr(step, "now", False)))
            elif kind == "say_wav":
                utt = None
                if render is not None:
                    from workbench.scenario.caller import load_wav_8k

                    pcm = load_wav_8k(scenario.resolve(step.say_wav))
                    utt = EncodedUtterance.from_pcm(step.say_wav, pcm)
                steps.append(PlanStep("say", utt, now=step.now))
            elif kind == "pause":
                steps.append(PlanStep("pause", value=step.pause_ms))
            elif kind == "silence":
                steps.append(PlanStep("silence", value=step.silence_s * 1000.0, now=step.now))
            elif kind == "dtmf":
                steps.append(
                    PlanStep("dtmf", digits=step.dtmf.upper(), value=step.interval_ms, now=step.now)
                )
            elif kind == "hang_up":
                steps.append(PlanStep("hang_up", now=step.now))
            elif kind == "wait_for" and step.wait_for in (
                "agent_starts_speaking",
                "agent_stops_speaking",
            ):
                steps.append(PlanStep("wait_for", wait=step.wait_for, value=step.timeout_ms))
            else:
                skipped.add(kind if kind != "wait_for" else f"wait_for {step.wait_for}")
        if skipped:
            log.info("%s: not played under load: %s", scenario.name, ", ".join(sorted(skipped)))
        plans.append(
            CallPlan(
                name=scenario.name,
                weight=weight,
                steps=tuple(steps),
                caller_number=scenario.caller.number,
                reply_timeout_s=scenario.caller.reply_timeout_ms / 1000.0,
                expected_intent=expected_intent(scenario),
                heard=tuple(h for h in heard if h is not None),
            )
        )
    return plans


def _heard_expectation(expect: Any, where: str, step: int | None) -> HeardExpectation | None:
    """The expectations a listening caller judges (`step`: the plan step whose window)."""
    said = tuple(getattr(expect, "agent_said", None) or ())
    never = tuple(getattr(expect, "agent_never_said", None) or ())
    if not said and not never:
        return None
    return HeardExpectation(where, step, said, never)


def _renderer(voice: str, rate_wpm: int | None) -> Callable[[str], np.ndarray]:
    if voice == SYNTHETIC_VOICE:
        return synthetic_render
    from workbench.speech.tts import TelephoneTTS, load_synthesizer
    from workbench.speech.tts_cache import TTSCache

    tts = TelephoneTTS(load_synthesizer(voice, rate_wpm=rate_wpm), None, TTSCache())
    return lambda text: tts.render_pcm(text, 8000)


def pick(plans: Sequence[CallPlan], rng: random.Random) -> CallPlan:
    return rng.choices(list(plans), weights=[plan.weight for plan in plans], k=1)[0]


class CallFailed(Exception):
    """A call that could not run as scripted; the message is its failure cause."""


def play_call(call: Any, plan: CallPlan, report: Report, *, connect_timeout_s: float = 10.0):
    """Run one call from `plan` on `call` (a `media_call.LocustCall`); hangs up in all cases."""
    import gevent
    import websocket

    started = time.perf_counter()
    timeout = plan.reply_timeout_s
    try:
        try:
            setup_ms = call.connect(connect_timeout_s)
        except websocket.WebSocketBadStatusException as refusal:
            body = (refusal.resp_body or b"").decode("utf-8", "replace").strip()
            cause = f"HTTP {refusal.status_code}" + (f" {body}" if body else "")
            if refusal.status_code not in BUSY_STATUSES:  # (403: unsigned, wrong token…)
                report("call_setup", (time.perf_counter() - started) * 1000.0, False, cause)
                raise CallFailed(f"connect: refused with {cause}") from None
            # The agent at capacity said no before any audio: a refusal, not a failed call.
            report(REFUSED, (time.perf_counter() - started) * 1000.0, True, cause[:120])
            return  # (no `call` sample: it never began)
        except Exception as error:
            report("call_setup", (time.perf_counter() - started) * 1000.0, False, _cause(error))
            raise CallFailed(f"connect: {_cause(error)}") from None
        report("call_setup", setup_ms, True, "")
        state = call.state
        if call.wait(lambda: state.first_agent_audio_ms is not None, timeout):
            report("ttfa", state.first_agent_audio_ms - call.start_ms, True, "")
        else:
            report("ttfa", timeout * 1000.0, False, "no greeting")
        call.wait(call.agent_quiet, timeout)
        for index, step in enumerate(plan.steps):
            _check_alive(call, index, plan)
            if step.kind in ("say", "silence", "dtmf", "hang_up") and not step.now:
                call.wait(call.agent_quiet, timeout)
            if call.recording is not None and step.kind in WINDOW_KINDS:
                call.recording.steps.append((index, call.now_ms()))
            if step.kind == "say":
                call.say(step.utterance)
                _await_reply(call, report, timeout, step.utterance.text)
            elif step.kind == "pause":
                gevent.sleep(step.value / 1000.0)
            elif step.kind == "silence":
                gevent.sleep(step.value / 1000.0)
            elif step.kind == "dtmf":
                for digit in step.digits:
                    call.press(digit)
                    gevent.sleep(step.value / 1000.0)
                _await_reply(call, report, timeout, f"(keys {step.digits})")
            elif step.kind in ("barge_in", "backchannel"):
                _interject(call, step, report, timeout)
            elif step.kind == "wait_for":
                if step.wait == "agent_starts_speaking":
                    call.wait(call.agent_speaking, step.value / 1000.0)
                else:
                    call.wait(call.agent_quiet, step.value / 1000.0)
            elif step.kind == "hang_up":
                break
        else:
            call.wait(call.agent_quiet, timeout)
        if state.protocol_errors:
            raise CallFailed(f"protocol error: {state.protocol_errors[0]}")
        outcome = (True, "")
    except CallFailed as failure:
        outcome = (False, str(failure))
    except Exception as error:  # a broken call is a result, not a crash of the generator
        outcome = (False, _cause(error))
    finally:
        call.hang_up()
    # Reported after the hang-up, so the sample's time is when the call ended.
    report_overlaps(call, report)
    report("call", (time.perf_counter() - started) * 1000.0, outcome[0], outcome[1])


def report_overlaps(call: Any, report: Report) -> None:
    """One `overlap` sample per caller onset over agent audio (see the module docstring)."""
    overlaps = call.overlap_report()["overlaps"]
    for item in overlaps:
        outcome = OverlapOutcome(
            item["intent"],
            item["outcome"],
            item["onset_ms"],
            item["stop_latency_ms"],
            item["resume_gap_ms"],
        )
        cause = overlap_sample_cause(
            outcome, cleared=item["clear_ms"] is not None, returned_as=item["returned_as"]
        )
        report(OVERLAP, outcome.stop_latency_ms or 0.0, outcome.correct, cause)


def _cause(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:200]


def _check_alive(call: Any, index: int, plan: CallPlan) -> None:
    if call.closed:
        reason = call.state.closed_reason or "closed"
        raise CallFailed(f"agent ended the call before step {index + 1} ({reason})")


def _await_reply(call: Any, report: Report, timeout: float, said: str = "") -> None:
    """After the caller's speech or keys (`said`): wait for the last frame out, then for the
    reply; a listened call keeps the turn (what was said, the reply's onset, its latency)."""
    state = call.state
    call.wait(lambda: not call.speaking and state.speech_end_ms is not None, 60.0)
    if state.reply_not_applicable:
        report_not_applicable(report, "response_latency", state.reply_not_applicable)
    elif call.wait(lambda: state.reply_ms is not None, timeout):
        latency = state.reply_ms - state.speech_end_ms
        report("response_latency", latency, True, "")
        if call.recording is not None:
            call.recording.measured.append((said, state.reply_ms, latency))
    elif not call.closed:
        report("response_latency", timeout * 1000.0, False, "no reply")


def _interject(call: Any, step: PlanStep, report: Report, timeout: float) -> None:
    """Speak `at_ms` into the agent's current speech; measure the stop (or no stop)."""
    import gevent
    from call_records import InterjectionMeasure
    from media_call import FALSE_INTERRUPTION_WINDOW_MS

    state = call.state
    began = call.now_ms()

    def agent_run() -> bool:
        onset = state.run_onset_ms
        return onset is not None and (onset >= began or call.agent_speaking())

    if not call.wait(agent_run, timeout):
        report(step.kind, timeout * 1000.0, False, "agent never spoke")
        return
    target = state.run_onset_ms + step.value - step.utterance.onset_ms
    delay = (target - call.now_ms()) / 1000.0
    if delay > 0:
        gevent.sleep(delay)
    item = InterjectionMeasure(step.kind)
    state.interjection = item
    call.say(step.utterance, "interruption" if step.kind == "barge_in" else "acknowledgement")
    if step.kind == "barge_in":
        if call.wait(lambda: item.stop_ms is not None or bool(item.not_applicable), timeout):
            if item.not_applicable:
                report_not_applicable(report, "barge_in_stop", item.not_applicable)
            else:
                report("barge_in_stop", item.stop_ms, True, "")
        else:
            report("barge_in_stop", timeout * 1000.0, False, "agent kept talking")
        _await_reply(call, report, timeout, step.utterance.text)
    else:
        # What became of the reply (paused and resumed, dropped, restarted, talked through)
        # is the overlap's outcome, reported when the call ends; here the caller only waits
        # for the agent to resume if it will (the reply goes on until it is quiet).
        call.wait(lambda: not call.speaking, 30.0)
        window_end = (item.onset_ms or call.now_ms()) + FALSE_INTERRUPTION_WINDOW_MS
        call.wait(lambda: call.now_ms() >= window_end, 5.0)
        call.wait(lambda: not call.overlaps.awaiting_return, RESUME_WAIT_S)
        state.awaiting_reply = False
    state.interjection = None
