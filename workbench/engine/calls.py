"""Placing calls from code: load the agent and its speech stack once, run scripted calls.

This is the one entry point the CLI, the scenario runner, the benchmarks and the GUI use to
run a simulated call: `CallRuntime` caches the loaded agent and speech stack per process, and
`run_call` wires a session, a caller and a driver together.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.audio.network import NetworkConditions
from workbench.engine import events as ev
from workbench.engine.caller import Caller, SayTurnsCaller
from workbench.engine.latency import LatencyModel, MeasuredLatency
from workbench.engine.session import CallSession, SessionSettings
from workbench.engine.speech_stack import SpeechStack
from workbench.engine.virtual import CallResult, LocalCallDriver
from workbench.paths import DEMO_AGENT_DIR
from workbench.speech.ears import FINAL_PASS_LANE, resolve_ear, vendor_final_pass_lane

log = logging.getLogger(__name__)

DEFAULT_CALLER_VOICE = "piper:joe"


def call_id_for(*parts: object) -> str:
    """A Twilio-style call SID ("CA" + 32 hex), derived from `parts` so runs are repeatable."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return "CA" + digest[:32]


@dataclass
class CallRuntime:
    """Loaded agents and speech stacks, kept for the life of the process."""

    stt_backend: str = "pocketsphinx"
    tts_cache: bool = True
    _agents: dict[str, Any] = field(default_factory=dict)
    _stacks: dict[tuple[str, str | None], SpeechStack] = field(default_factory=dict)

    def agent(self, path: str | Path | None = None) -> Any:
        from workbench.agent import load_agent

        key = str(Path(path or DEMO_AGENT_DIR).resolve())
        if key not in self._agents:
            self._agents[key] = load_agent(key)
        return self._agents[key]

    def stack(self, agent: Any, agent_voice: str | None = None) -> SpeechStack:
        key = (str(agent.directory), agent_voice)
        if key not in self._stacks:
            self._stacks[key] = SpeechStack(
                agent,
                stt_backend=self.stt_backend,
                agent_voice=agent_voice,
                tts_cache=self.tts_cache,
            )
        return self._stacks[key]

    def reload_agent(self, path: str | Path) -> Any:
        """Forget a loaded agent (and its stacks) so the next call sees the edited files."""
        key = str(Path(path).resolve())
        self._agents.pop(key, None)
        for stack_key in [k for k in self._stacks if k[0] == key]:
            del self._stacks[stack_key]
        return self.agent(key)


def ear_settings(settings: SessionSettings, ear: str, latency: LatencyModel) -> SessionSettings:
    """`settings` listening with `ear`. Under a latency profile that stands in for a vendor's
    STT, the final pass is that vendor: it starts at the endpoint (as a vendor finalises) and
    is charged the vendor's figure, while its words are still Whisper's."""
    vendor = bool(getattr(latency, "stands_in_for_stt", False))
    lane = vendor_final_pass_lane(latency.name) if vendor else FINAL_PASS_LANE
    return replace(
        settings,
        ear=ear,
        speculative_final_pass=settings.speculative_final_pass and not vendor,
        final_pass_lane=lane,
    )


def turn_taking_settings(
    settings: SessionSettings, definition: Any, interruption: str | None = None
) -> SessionSettings:
    """`settings` with what the agent's `turn_taking:` sets (the fields its file writes; the
    interruption mode unless `interruption`, a scenario's or a flag's choice, overrides it)."""
    spec = getattr(definition, "turn_taking", None)
    written: set[str] = set(spec.model_fields_set) if spec is not None else set()
    names = {"resume": "resume_policy"}  # the file's name -> the setting's
    changes: dict[str, Any] = {names.get(name, name): getattr(spec, name) for name in written}
    if interruption is not None:
        changes["interruption"] = interruption
    return replace(settings, **changes)


def run_call(
    runtime: CallRuntime,
    caller_factory: Callable[[SpeechStack], Caller],
    *,
    agent_path: str | Path | None = None,
    settings: SessionSettings | None = None,
    network: NetworkConditions | None = None,
    latency: LatencyModel | None = None,
    seed: int = 0,
    call_id: str | None = None,
    realtime: bool = False,
    agent_voice: str | None = None,
    caller_context: Any = None,
    on_event: Callable[[ev.Event], None] | None = None,
    on_driver: Callable[[LocalCallDriver], None] | None = None,
    max_duration_ms: float = 180_000.0,
    reference: Any = None,
    responder: Any = None,
    ear: str | None = None,
    default_ear: str = "fast",
    interruption: str | None = None,
) -> CallResult:
    """One simulated call. The ear is `ear` (a flag or a scenario's choice), else the agent's
    `ear:`, else `default_ear` (each face's own default); turn-taking is the agent's
    `turn_taking:`, its interruption mode overridden by `interruption` if given."""
    agent = runtime.agent(agent_path)
    stack = runtime.stack(agent, agent_voice)
    caller = caller_factory(stack)
    chosen = resolve_ear(ear, getattr(agent.definition, "ear", None), default=default_ear)
    latency = latency or MeasuredLatency()
    session = CallSession(
        call_id or call_id_for(agent.name, seed),
        agent,
        stack,
        ear_settings(
            turn_taking_settings(settings or SessionSettings(), agent.definition, interruption),
            chosen,
            latency,
        ),
        caller=caller_context,
        caller_number=caller.number,
        reference=reference,
        responder=responder,
    )
    driver = LocalCallDriver(
        session,
        caller,
        network=network,
        latency=latency,
        seed=seed,
        on_event=on_event,
        realtime=realtime,
        max_duration_ms=max_duration_ms,
    )
    if on_driver is not None:
        on_driver(driver)
    return driver.run()


def say_lines_caller(
    lines: list[str], voice: str = DEFAULT_CALLER_VOICE, number: str = "+14155550199"
):
    """A caller factory: says `lines` in `voice`, each after the agent's reply."""

    def factory(stack: SpeechStack) -> Caller:
        tts = stack.caller_tts(voice)
        return SayTurnsCaller(lines, lambda text: tts.render_pcm(text, 8000), number=number)

    return factory
