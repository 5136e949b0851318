"""Running scenarios: a scripted caller against the agent, through the whole audio pipeline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.engine import events as ev
from workbench.engine.calls import CallRuntime, call_id_for, run_call, say_lines_caller
from workbench.engine.latency import load_profile
from workbench.engine.session import SessionSettings
from workbench.engine.virtual import CallResult
from workbench.scenario.schema import Scenario


@dataclass
class ScenarioResult:
    scenario: Scenario
    call: CallResult


def run_scenario(
    scenario: Scenario,
    runtime: CallRuntime,
    *,
    realtime: bool = False,
    profile: str | None = None,
    endpointing: str | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
) -> ScenarioResult:
    settings = SessionSettings(
        endpointing=endpointing or scenario.endpointing, silence_ms=scenario.silence_ms
    )
    latency = load_profile(profile or scenario.latency_profile, seed=scenario.seed)
    call = run_call(
        runtime,
        say_lines_caller(scenario.lines(), scenario.caller.voice, scenario.caller.number),
        agent_path=scenario.agent_path(),
        settings=settings,
        network=scenario.network_conditions(),
        latency=latency,
        seed=scenario.seed,
        call_id=call_id_for(scenario.name, scenario.seed),
        realtime=realtime,
        on_event=on_event,
    )
    return ScenarioResult(scenario, call)
