"""Running scenarios: a scripted caller against the agent, through the whole audio pipeline.

`run_scenario` places one call (virtual time unless `realtime`) with the scenario's
`ScriptedCaller` and evaluates its expectations; `run_suite` runs many, optionally in
`jobs` worker processes (each with its own `CallRuntime` and CRM verifier, loaded once per
process), and returns results in the order given.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.util
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.engine import events as ev
from workbench.engine.calls import CallRuntime, call_id_for, run_call
from workbench.engine.latency import load_profile
from workbench.engine.scorecard import Scorecard
from workbench.engine.session import SessionSettings
from workbench.engine.virtual import CallResult
from workbench.scenario.assertions import CrmCheckFn, Outcome, evaluate
from workbench.scenario.caller import ScriptedCaller, scripted_caller_for
from workbench.scenario.caller_log import CallerLog
from workbench.scenario.schema import Scenario, load_scenario

log = logging.getLogger(__name__)


@dataclass
class ScenarioResult:
    """One scenario's call, what the caller did and measured, and the verdicts."""

    scenario: Scenario
    call: CallResult | None
    caller: CallerLog
    outcomes: list[Outcome] = field(default_factory=list)
    error: str | None = None  # the run itself broke (a bug, not a failed expectation)
    wall_s: float = 0.0
    endpointing: str = ""  # what the call really used (options may override the file)
    latency_profile: str = ""
    ear: str = ""
    _scorecard: Scorecard | None = field(default=None, repr=False, compare=False)

    @property
    def passed(self) -> bool:
        return self.error is None and not any(o.failed for o in self.outcomes)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.failed]

    @property
    def scorecard(self) -> Scorecard | None:
        """The call's scorecard (`engine.scorecard`; None when the call could not run)."""
        if self.call is None:
            return None
        if self._scorecard is None:
            from workbench.scenario.scorecards import scenario_scorecard

            self._scorecard = scenario_scorecard(self.call, self.caller)
        return self._scorecard

    @property
    def voice_call(self) -> dict[str, str] | None:
        """What the call's VoiceCall record tells (`crm.from_call`, the record the CRM gets):
        `intent` (the call's main outcome), `disposition` and `summary` (the whole call)."""
        if self.call is None:
            return None
        from workbench.crm.from_call import record_from_result

        record = record_from_result(self.call)
        return {
            "intent": record.intent,
            "disposition": record.disposition,
            "summary": record.summary,
        }


@dataclass(frozen=True)
class RunOptions:
    realtime: bool = False
    profile: str | None = None  # overrides the scenarios' latency profile
    endpointing: str | None = None  # overrides the scenarios' endpointing
    check_crm: bool = True
    ear: str | None = None  # overrides the scenarios' (and agents') ear


DEFAULT_EAR = "accurate"  # scenarios are where a designer listens


def settings_for(scenario: Scenario, options: RunOptions) -> SessionSettings:
    return SessionSettings(
        endpointing=options.endpointing or scenario.endpointing, silence_ms=scenario.silence_ms
    )


def run_scenario(
    scenario: Scenario,
    runtime: CallRuntime,
    *,
    realtime: bool = False,
    profile: str | None = None,
    endpointing: str | None = None,
    on_event: Callable[[ev.Event], None] | None = None,
    crm_check: CrmCheckFn | None = None,
    ear: str | None = None,
) -> ScenarioResult:
    """Place the scenario's call and judge it. `crm_check` None: `crm` expectations skip.
    The ear: `ear` (a flag), else the scenario's, else its agent's, else `DEFAULT_EAR`."""
    options = RunOptions(realtime=realtime, profile=profile, endpointing=endpointing, ear=ear)
    callers: list[ScriptedCaller] = []

    def factory(stack: Any) -> ScriptedCaller:
        tts = stack.caller_tts(scenario.caller.voice, scenario.caller.rate_wpm)
        caller = scripted_caller_for(scenario, lambda text: tts.render_pcm(text, 8000))
        callers.append(caller)
        return caller

    settings = settings_for(scenario, options)
    profile_name = options.profile or scenario.latency_profile
    used = {"endpointing": settings.endpointing, "latency_profile": profile_name}
    ears: list[str] = []

    def note_ear(event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            ears.append(str(event.settings.get("ear", "")))
        if on_event is not None:
            on_event(event)

    started = time.perf_counter()
    try:
        call = run_call(
            runtime,
            factory,
            agent_path=scenario.agent_path(),
            settings=settings,
            network=scenario.network_conditions(),
            latency=load_profile(profile_name, seed=scenario.seed),
            seed=scenario.seed,
            call_id=call_id_for(scenario.name, scenario.seed),
            realtime=options.realtime,
            on_event=note_ear,
            ear=options.ear or scenario.ear,
            default_ear=DEFAULT_EAR,
            interruption=scenario.interruption,
        )
    except Exception as error:  # one broken scenario must not stop a suite
        log.exception("scenario %s could not run", scenario.name)
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return ScenarioResult(
            scenario,
            None,
            callers[0].log if callers else CallerLog(),
            error=f"the call could not run: {detail}",
            wall_s=time.perf_counter() - started,
            **used,
        )
    caller_log = callers[0].log
    outcomes = evaluate(scenario, call, caller_log, crm_check=crm_check)
    return ScenarioResult(
        scenario,
        call,
        caller_log,
        outcomes,
        wall_s=time.perf_counter() - started,
        ear=ears[0] if ears else "",
        **used,
    )


# ---------------------------------------------------------------- suites


class _Process:
    """What a process keeps between scenarios: the runtime and the CRM verifier."""

    runtime: CallRuntime | None = None
    crm: Any = None

    @classmethod
    def get(cls) -> tuple[CallRuntime, Any]:
        if cls.runtime is None:
            from workbench.scenario.crm_check import CrmVerifier

            cls.runtime = CallRuntime()
            cls.crm = CrmVerifier()
            # Worker processes end without running atexit hooks; multiprocessing's finalizers
            # run in both, so the throwaway org's files are removed either way.
            multiprocessing.util.Finalize(None, cls.crm.close, exitpriority=10)
            atexit.register(cls.crm.close)
        return cls.runtime, cls.crm


def _run_in_process(scenario: Scenario, options: RunOptions) -> ScenarioResult:
    runtime, crm = _Process.get()
    return run_scenario(
        scenario,
        runtime,
        realtime=options.realtime,
        profile=options.profile,
        endpointing=options.endpointing,
        crm_check=crm if options.check_crm else None,
        ear=options.ear,
    )


def run_suite(
    scenarios: Sequence[Scenario],
    *,
    jobs: int = 1,
    options: RunOptions | None = None,
    on_result: Callable[[ScenarioResult], None] | None = None,
) -> list[ScenarioResult]:
    """Run every scenario; `jobs` > 1 uses that many worker processes. Results keep the order."""
    options = options or RunOptions()
    if jobs <= 1 or len(scenarios) <= 1:
        results = []
        for scenario in scenarios:
            result = _run_in_process(scenario, options)
            if on_result is not None:
                on_result(result)
            results.append(result)
        return results
    workers = min(jobs, len(scenarios), os.cpu_count() or jobs)
    # Longest-looking first, so that the slowest call does not start last.
    order = sorted(range(len(scenarios)), key=lambda i: -_weight(scenarios[i]))
    results: list[ScenarioResult | None] = [None] * len(scenarios)
    # "spawn": a fresh interpreter per worker, safe even when the caller has threads running
    # (the GUI, a delivery worker); the agent and speech stack load once per worker anyway.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(_run_in_process, scenarios[i], options): i for i in order}
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as error:  # a worker died: report it on the scenario
                result = ScenarioResult(
                    scenarios[index], None, CallerLog(), error=f"worker failed: {error}"
                )
            results[index] = result
            if on_result is not None:
                on_result(result)
    return [r for r in results if r is not None]


def _weight(scenario: Scenario) -> float:
    """A rough guess of a scenario's call length, to schedule long ones first."""
    weight = 0.0
    for step in scenario.steps:
        weight += len(getattr(step, "say", "") or "") / 12.0 + 4.0
        weight += getattr(step, "silence_s", 0.0) or 0.0
    return weight


def load_all(paths: Sequence[Path]) -> list[Scenario]:
    """Every scenario under `paths`; all files' problems are reported together."""
    from workbench.errors import InputFileError
    from workbench.scenario.schema import find_scenarios

    scenarios, problems = [], []
    for path in find_scenarios(list(paths)):
        try:
            scenarios.append(load_scenario(path))
        except InputFileError as error:
            problems.append(str(error))
    if problems:
        raise InputFileError("\n".join(problems))
    names: dict[str, Path | None] = {}
    for scenario in scenarios:
        if scenario.name in names:
            raise InputFileError(
                f"{scenario.source}: name: {scenario.name!r} is also the name of "
                f"{names[scenario.name]} (scenario names must be unique)"
            )
        names[scenario.name] = scenario.source
    return scenarios
