"""Expectations evaluated on a finished call: each gives pass, fail or skip, with evidence.

Inputs are the scenario, the engine's `CallResult` and the `CallerLog` the scripted caller
kept (what it did, when, and what it measured at its ear). A step's `expect` is judged on the
step's *window*: from the moment the step acted to the moment the next acting step did
(backchannels do not end a window: the agent's reply goes on through them).

What "the agent said" means: the sentences of each reply (`ResponseStarted`), cut where the
caller interrupted it (`AgentAudioStopped(reason="interrupted").text_heard`), and fillers.
`agent_never_said` is stricter: it searches everything the agent *planned* to say as well.

A failing expectation's evidence quotes what was observed, so a reader need not rerun the
call. Nothing passes silently: an expectation that cannot be checked is a "skip" with the
reason (e.g. "skipped: no CRM sink").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workbench.engine import events as ev
from workbench.engine.interruption import leading_acknowledgement
from workbench.engine.trace import TurnTimeline
from workbench.engine.virtual import CallResult
from workbench.scenario import schema as sc
from workbench.scenario.caller_log import CallerAction, CallerLog
from workbench.scenario.turn_taking import false_interruptions
from workbench.speech.numbers import display_text
from workbench.stats import percentile

log = logging.getLogger(__name__)

# Steps that start a new window (the agent's reply to them is judged on their window).
WINDOW_KINDS = ("say", "say_wav", "silence", "dtmf", "barge_in", "hang_up")


@dataclass(frozen=True)
class Outcome:
    """One expectation's verdict."""

    expectation: str  # e.g. "topic", "turn_latency_ms.p95", "crm Case"
    where: str  # "call" or "step 2: say 'What are your opening hours?'"
    status: str  # "pass" | "fail" | "skip"
    expected: str
    evidence: str

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    def line(self) -> str:
        return f"[{self.status}] {self.where}: {self.expectation} {self.expected} — {self.evidence}"


CrmCheckFn = Callable[[CallResult, list[sc.CrmCheck]], list[Outcome]]


# ---------------------------------------------------------------- what happened, per window


@dataclass
class Window:
    """The part of the call that answers one step."""

    step: int
    label: str
    start_ms: float
    end_ms: float
    events: list[ev.Event]
    timelines: list[TurnTimeline]


def spoken_by_turn(events: Iterable[ev.Event]) -> dict[int, list[str]]:
    """What the agent said per turn: reply sentences, cut at an interruption."""
    fillers: dict[int, list[str]] = {}
    replies: dict[int, list[str]] = {}
    for event in events:
        if isinstance(event, ev.ResponseStarted):
            replies[event.turn] = [display_text(s) for s in event.sentences]
        elif isinstance(event, ev.FillerStarted):
            fillers.setdefault(event.turn, []).append(event.text)
        elif isinstance(event, ev.AgentAudioStopped) and event.reason == "interrupted":
            replies[event.turn] = [display_text(event.text_heard)] if event.text_heard else []
    turns = sorted(set(fillers) | set(replies))
    return {turn: fillers.get(turn, []) + replies.get(turn, []) for turn in turns}


def planned_texts(result: CallResult) -> list[str]:
    """Everything the agent meant to say or said (for `agent_never_said`)."""
    texts = [text for speaker, text in result.transcript if speaker == "agent"]
    for event in result.events:
        if isinstance(event, ev.ResponseStarted):
            texts += [display_text(s) for s in event.sentences]
        elif isinstance(event, ev.FillerStarted | ev.AgentAudioStarted):
            texts.append(display_text(event.text))
    return texts


def windows(scenario: sc.Scenario, caller: CallerLog, result: CallResult) -> dict[int, Window]:
    """The window of every step that acted, keyed by step index."""
    acting = [a for a in caller.actions if a.kind in WINDOW_KINDS]
    out: dict[int, Window] = {}
    for i, action in enumerate(acting):
        end = acting[i + 1].started_ms if i + 1 < len(acting) else float("inf")
        start = action.started_ms
        out[action.step] = Window(
            action.step,
            action.label,
            start,
            end,
            [e for e in result.events if start <= e.t_ms < end],
            [t for t in result.timelines if t.turn > 0 and start <= t.origin_ms < end],
        )
    return out


# ---------------------------------------------------------------- evaluation


def evaluate(
    scenario: sc.Scenario,
    result: CallResult,
    caller: CallerLog,
    *,
    crm_check: CrmCheckFn | None = None,
) -> list[Outcome]:
    """Every expectation of the scenario (steps first, then the call), plus script problems."""
    outcomes: list[Outcome] = []
    for problem in caller.problems:
        outcomes.append(Outcome("script", "call", "fail", "runs as written", problem))
    outcomes += _unreached(scenario, caller, result)
    by_step = windows(scenario, caller, result)
    for index, step in enumerate(scenario.steps):
        expect = getattr(step, "expect", None)
        if expect is None:
            continue
        where = f"step {index + 1}: {sc.describe_step(step)}"
        window = by_step.get(index)
        if window is None:
            for name in _set_fields(expect):
                outcomes.append(
                    Outcome(name, where, "fail", _show(getattr(expect, name)), "step never ran")
                )
            continue
        turns = sorted(
            {e.turn for e in window.events if isinstance(e, ev.ResponseStarted) and e.turn > 0}
        )
        if turns:
            where += f" (turn {', '.join(str(t) for t in turns)})"
        outcomes += _turn_outcomes(expect, window, where)
    outcomes += _call_outcomes(scenario.expect, scenario, result, caller, crm_check)
    return outcomes


def _set_fields(model: Any) -> list[str]:
    return [name for name in type(model).model_fields if getattr(model, name) is not None]


def _show(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if hasattr(value, "model_dump"):
        value = {k: v for k, v in value.model_dump().items() if v is not None}
    return repr(value) if isinstance(value, str) else str(value)


def _unreached(scenario: sc.Scenario, caller: CallerLog, result: CallResult) -> list[Outcome]:
    missing = [
        i
        for i in range(caller.steps_reached, len(scenario.steps))
        if not isinstance(scenario.steps[i], sc.HangUpStep)
    ]
    if not missing:
        return []
    first = missing[0]
    return [
        Outcome(
            "script",
            "call",
            "fail",
            "every step runs",
            f"step {first + 1} ({sc.describe_step(scenario.steps[first])})"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + f" never ran: the call ended ({result.end_reason}) at {result.duration_ms / 1000:.1f} s",
        )
    ]


def _turn_outcomes(expect: sc.TurnExpect, window: Window, where: str) -> list[Outcome]:
    out: list[Outcome] = []
    topics = [e for e in window.events if isinstance(e, ev.TopicDecided)]
    if expect.topic is not None:
        decided = ", ".join(f"{e.topic} ({e.confidence:.2f})" for e in topics) or "none"
        heard = "; ".join(repr(t.caller_text) for t in window.timelines) or _finals(window.events)
        ok = any(e.topic == expect.topic for e in topics)
        out.append(
            Outcome("topic", where, _ok(ok), expect.topic, f"decided: {decided}; heard {heard}")
        )
    if expect.entities is not None:
        found = _entities(topics)
        out += _entity_outcomes(expect.entities, found, {}, where)
    if expect.routed_to is not None:
        routes = [
            e.routing for e in window.events if isinstance(e, ev.ResponseStarted) and e.routing
        ]
        got = routes[-1] if routes else None
        out.append(
            Outcome("routed_to", where, _ok(got == expect.routed_to), expect.routed_to, f"{got}")
        )
    said = _window_said(window)
    out += _said_outcomes(expect.agent_said, said, where)
    planned = [
        display_text(s)
        for e in window.events
        if isinstance(e, ev.ResponseStarted)
        for s in e.sentences
    ]
    out += _never_outcomes(expect.agent_never_said, said + planned, where)
    if expect.turn_latency_ms is not None:
        out.append(_latency_each(window.timelines, expect.turn_latency_ms, where))
    return out


def _finals(events: list[ev.Event]) -> str:
    finals = [repr(e.text) for e in events if isinstance(e, ev.FinalTranscript)]
    return "; ".join(finals) or "nothing recognised"


def _window_said(window: Window) -> list[str]:
    said = spoken_by_turn(window.events)
    return [text for turn in sorted(said) for text in said[turn]]


def _ok(condition: bool) -> str:
    return "pass" if condition else "fail"


def _entities(topics: list[ev.TopicDecided]) -> list[tuple[str, str]]:
    return [(str(e.get("type")), str(e.get("value"))) for t in topics for e in t.entities]


def _value_matches(expected: str, value: Any) -> bool:
    text = str(value)
    if sc.is_regex(expected):
        return sc.text_matches(expected, text)
    return " ".join(expected.lower().split()) == " ".join(text.lower().split())


def _entity_outcomes(
    expected: dict[str, str],
    found: list[tuple[str, str]],
    captured: dict[str, Any],
    where: str,
) -> list[Outcome]:
    out = []
    for name, want in expected.items():
        values = [v for t, v in found if t == name]
        if name in captured:
            values.append(str(captured[name]))
        ok = any(_value_matches(want, v) for v in values)
        evidence = (
            f"{name}: {', '.join(repr(v) for v in values)}"
            if values
            else "none of that type; understood: "
            + (", ".join(f"{t}={v!r}" for t, v in found) or "no entities")
        )
        out.append(Outcome(f"entities.{name}", where, _ok(ok), repr(want), evidence))
    return out


def _said_outcomes(patterns: list[str] | None, said: list[str], where: str) -> list[Outcome]:
    out = []
    text = " ".join(said)
    for pattern in patterns or []:
        ok = sc.text_matches(pattern, text)
        out.append(
            Outcome("agent_said", where, _ok(ok), repr(pattern), f"agent said: {_clip(text)!r}")
        )
    return out


def _never_outcomes(patterns: list[str] | None, texts: list[str], where: str) -> list[Outcome]:
    out = []
    for pattern in patterns or []:
        hits = [t for t in texts if sc.text_matches(pattern, t)]
        evidence = f"found in {_clip(hits[0])!r}" if hits else "not said"
        out.append(Outcome("agent_never_said", where, _ok(not hits), repr(pattern), evidence))
    return out


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _latency_each(timelines: list[TurnTimeline], limit: float, where: str) -> Outcome:
    if not timelines:
        return Outcome("turn_latency_ms", where, "fail", f"≤ {limit:g}", "no turn was measured")
    worst = max(timelines, key=lambda t: t.total_ms)
    ok = worst.total_ms <= limit
    totals = ", ".join(f"turn {t.turn}: {t.total_ms:.0f} ms" for t in timelines)
    return Outcome("turn_latency_ms", where, _ok(ok), f"≤ {limit:g}", totals)


def _call_outcomes(
    expect: sc.CallExpect,
    scenario: sc.Scenario,
    result: CallResult,
    caller: CallerLog,
    crm_check: CrmCheckFn | None,
) -> list[Outcome]:
    from workbench.crm.from_call import settled_topic

    out: list[Outcome] = []
    where = "call"
    if expect.topic is not None:
        topic, confidence = settled_topic(result.events)
        decided = [
            f"turn {e.turn}: {e.topic}" for e in result.events if isinstance(e, ev.TopicDecided)
        ]
        out.append(
            Outcome(
                "topic",
                where,
                _ok(topic == expect.topic),
                expect.topic,
                f"settled on {topic} ({confidence:.2f}); decided: {', '.join(decided) or 'none'}",
            )
        )
    if expect.entities is not None:
        topics = [e for e in result.events if isinstance(e, ev.TopicDecided)]
        out += _entity_outcomes(expect.entities, _entities(topics), result.captured, where)
    if expect.routed_to is not None:
        out.append(
            Outcome(
                "routed_to",
                where,
                _ok(result.routing == expect.routed_to),
                expect.routed_to,
                f"{result.routing} (ended: {result.end_reason}, {result.disposition})",
            )
        )
    said_map = spoken_by_turn(result.events)
    said = [text for turn in sorted(said_map) for text in said_map[turn]]
    out += _said_outcomes(expect.agent_said, said, where)
    out += _never_outcomes(expect.agent_never_said, planned_texts(result), where)
    if expect.turn_latency_ms is not None:
        out += _latency_call(result, expect.turn_latency_ms)
    if expect.no_false_interruptions:
        out.append(_false_interruptions(scenario, result, caller))
    if expect.barge_in_stop_ms is not None:
        out += _barge_in_outcomes(caller, expect.barge_in_stop_ms)
    if expect.reprompts is not None:
        out.append(_reprompts(expect.reprompts, result))
    if expect.max_wait_ms is not None:
        out.append(_max_wait(expect.max_wait_ms, result, caller))
    if expect.end_reason is not None:
        out.append(
            Outcome(
                "end_reason",
                where,
                _ok(result.end_reason == expect.end_reason),
                expect.end_reason,
                f"{result.end_reason} at {result.duration_ms / 1000:.1f} s",
            )
        )
    if expect.crm:
        if crm_check is None:
            for check in expect.crm:
                out.append(
                    Outcome(
                        f"crm {check.object}",
                        where,
                        "skip",
                        _crm_text(check),
                        "skipped: no CRM sink",
                    )
                )
        else:
            out += crm_check(result, list(expect.crm))
    return out


def _latency_call(result: CallResult, limit: float | sc.LatencyLimits) -> list[Outcome]:
    timelines = [t for t in result.timelines if t.turn > 0]
    if isinstance(limit, int | float):
        return [_latency_each(timelines, float(limit), "call")]
    out = []
    totals = [t.total_ms for t in timelines]
    if not totals:
        return [Outcome("turn_latency_ms", "call", "fail", _show(limit), "no turn was measured")]
    shown = ", ".join(f"{v:.0f}" for v in totals)
    for name, q in (("max", 100.0), ("p50", 50.0), ("p95", 95.0)):
        bound = getattr(limit, name)
        if bound is None:
            continue
        value = percentile(totals, q)
        out.append(
            Outcome(
                f"turn_latency_ms.{name}",
                "call",
                _ok(value <= bound),
                f"≤ {bound:g}",
                f"{name} {value:.0f} ms over {len(totals)} turns ({shown} ms)",
            )
        )
    return out


def _false_interruptions(scenario: sc.Scenario, result: CallResult, caller: CallerLog) -> Outcome:
    problems, notes = false_interruptions(result, caller)
    others = [o for o in result.overlaps if o.intent != "interruption"]
    evidence = "; ".join(problems) or (
        f"{len(others)} acknowledgement(s) and noise over the agent, no abandoned reply"
        + (f" ({'; '.join(notes)})" if notes else "")
    )
    return Outcome("no_false_interruptions", "call", _ok(not problems), "0", evidence)


def _barge_in_outcomes(caller: CallerLog, limit: float) -> list[Outcome]:
    items = [i for i in caller.interjections if i.kind == "barge_in"]
    if not items:
        return [Outcome("barge_in_stop_ms", "call", "fail", f"≤ {limit:g}", "no barge_in step ran")]
    out = []
    for item in items:
        where = f"step {item.step + 1}: barge_in {item.text!r}"
        if item.onset_ms is None:
            out.append(Outcome("barge_in_stop_ms", where, "fail", f"≤ {limit:g}", "never said"))
            continue
        offset = item.offset_ms
        timing = f"onset at {item.onset_ms / 1000:.2f} s, {offset:.0f} ms into the agent's speech"
        measured_from = "the onset"
        if item.interruption_onset_ms is not None and item.interruption_onset_ms > item.onset_ms:
            lead = leading_acknowledgement(item.text) or ""
            timing += (
                f"; the interruption proper began at {item.interruption_onset_ms / 1000:.2f} s, "
                f"after the acknowledgement {lead!r}"
            )
            measured_from = "the interruption proper"
        if not item.agent_audible_at_onset:
            out.append(
                Outcome(
                    "barge_in_stop_ms",
                    where,
                    "fail",
                    f"≤ {limit:g}",
                    f"{timing}, but the agent was not audible then (its reply had ended)",
                )
            )
        elif item.stop_ms is None:
            out.append(
                Outcome(
                    "barge_in_stop_ms",
                    where,
                    "fail",
                    f"≤ {limit:g}",
                    f"{timing}; the agent's audio never stopped before the call ended",
                )
            )
        else:
            out.append(
                Outcome(
                    "barge_in_stop_ms",
                    where,
                    _ok(item.stop_ms <= limit),
                    f"≤ {limit:g}",
                    f"{timing}; last agent audio heard {item.stop_ms:.0f} ms after {measured_from}",
                )
            )
    return out


def _max_wait(limit: float, result: CallResult, caller: CallerLog) -> Outcome:
    """After each thing the caller said, how long until it heard the agent again."""
    if not caller.waits:
        return Outcome("max_wait_ms", "call", "fail", f"≤ {limit:g}", "the caller said nothing")
    end = result.duration_ms
    waits = [(said, (heard if heard is not None else end) - said) for said, heard in caller.waits]
    said, worst = max(waits, key=lambda w: w[1])
    never = [s for s, heard in caller.waits if heard is None]
    evidence = (
        f"longest wait {worst:.0f} ms, after the caller stopped at {said / 1000:.2f} s"
        + (f" (never answered after {len(never)} utterance(s))" if never else "")
        + f"; {len(waits)} waits"
    )
    return Outcome("max_wait_ms", "call", _ok(worst <= limit), f"≤ {limit:g}", evidence)


def _reprompts(expected: int | sc.CountRange, result: CallResult) -> Outcome:
    got = result.reprompts
    if isinstance(expected, int):
        ok, shown = got == expected, f"= {expected}"
    else:
        ok = (expected.min is None or got >= expected.min) and (
            expected.max is None or got <= expected.max
        )
        shown = f"in [{expected.min if expected.min is not None else 0}, "
        shown += f"{expected.max if expected.max is not None else '∞'}]"
    said = [t for s, t in result.transcript if s == "agent"]
    return Outcome(
        "reprompts", "call", _ok(ok), shown, f"{got} re-prompt(s); agent lines: {len(said)}"
    )


def _crm_text(check: sc.CrmCheck) -> str:
    fields = check.expected_fields()
    return f"{check.object} with {', '.join(fields) or 'any fields'}" if fields else check.object


def actions_by_step(caller: CallerLog) -> dict[int, CallerAction]:
    return {a.step: a for a in caller.actions}
