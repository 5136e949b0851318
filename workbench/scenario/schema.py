"""The scenario file format: a scripted caller, its conditions, and what must hold.

```yaml
name: opening-hours
description: A caller asks when the office is open.
tags: [smoke, hours]
agent: ../assets/agents/northwind      # relative to this file; default: the demo agent
caller: {number: "+14155550199", voice: "piper:joe", rate_wpm: null}
network: clean                         # a preset name, or {delay_ms, jitter_ms, loss, ...}
endpointing: semantic                  # or silence (with silence_ms)
latency_profile: measured              # measured | fixed | a bundled profile | a path
seed: 7
steps:
  - say: What are your opening hours?
  - say: Thanks, bye.
```

Unknown keys are errors; every problem is reported as file:line:column: field: why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from workbench.audio.network import GilbertElliott, NetworkConditions
from workbench.errors import ConfigError, InputFileError
from workbench.paths import DEMO_AGENT_DIR
from workbench.yamlfile import load_model


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallerSpec(_Strict):
    number: str = "+14155550199"
    voice: str = "piper:joe"
    rate_wpm: int | None = Field(default=None, ge=80, le=400)


class NetworkSpec(_Strict):
    delay_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    jitter_distribution: Literal["normal", "uniform", "pareto"] = "normal"
    loss: float = Field(default=0.0, ge=0, le=1)
    burst_loss: float = Field(default=0.0, ge=0, le=1, description="long-run loss in bursts")
    mean_burst_frames: float = Field(default=3.0, ge=1)
    reorder: float = Field(default=0.0, ge=0, le=1)

    def conditions(self) -> NetworkConditions:
        burst = (
            GilbertElliott.from_loss_rate(self.burst_loss, self.mean_burst_frames)
            if self.burst_loss > 0
            else None
        )
        return NetworkConditions(
            delay_ms=self.delay_ms,
            jitter_ms=self.jitter_ms,
            jitter_distribution=self.jitter_distribution,
            loss=self.loss,
            burst=burst,
            reorder=self.reorder,
        )


class SayStep(_Strict):
    say: str = Field(min_length=1)


class PauseStep(_Strict):
    pause_ms: float = Field(ge=0)


class HangUpStep(_Strict):
    hang_up: Literal[True]


Step = Annotated[SayStep | PauseStep | HangUpStep, Field(union_mode="left_to_right")]


class Scenario(_Strict):
    name: str
    description: str = ""
    tags: tuple[str, ...] = ()
    agent: str | None = None
    caller: CallerSpec = CallerSpec()
    network: str | NetworkSpec = "clean"
    endpointing: Literal["semantic", "silence"] = "semantic"
    silence_ms: float = Field(default=500.0, gt=0)
    latency_profile: str = "measured"
    seed: int = 0
    steps: tuple[Step, ...] = Field(min_length=1)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("network")
    @classmethod
    def _known_preset(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                NetworkConditions.preset(value)
            except ConfigError as error:
                raise ValueError(str(error)) from None
        return value

    def network_conditions(self) -> NetworkConditions:
        if isinstance(self.network, str):
            return NetworkConditions.preset(self.network)
        return self.network.conditions()

    def agent_path(self) -> Path:
        if self.agent is None:
            return DEMO_AGENT_DIR
        path = Path(self.agent)
        if not path.is_absolute() and self.source is not None:
            path = (self.source.parent / path).resolve()
        return path

    def lines(self) -> list[str]:
        return [step.say for step in self.steps if isinstance(step, SayStep)]


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    scenario = load_model(path, Scenario, "scenario")
    scenario = scenario.model_copy(update={"source": path.resolve()})
    if not scenario.agent_path().is_dir():
        raise InputFileError(f"{path}: agent: no agent directory at {scenario.agent_path()}")
    return scenario


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Files as given, directories searched for *.yaml (sorted); a missing path is an error."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.yaml") if p.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(f"{path}: no such scenario file or directory")
    return found
