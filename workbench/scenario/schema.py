"""The scenario file format: a scripted caller, its conditions, and what must hold.

A scenario is one YAML file. Unknown keys are errors (a typo must never pass silently); every
problem is reported on its own line as ``file:line:column: field: why``.

Header
------
```yaml
name: opening-hours                    # required; unique in a suite
description: A caller asks when the office is open.
tags: [smoke, hours]
agent: ../assets/agents/northwind      # relative to this file; default: the demo agent
caller:
  number: "+14155550199"               # the caller ID the agent sees
  voice: piper:joe                     # a TTS voice (see `workbench say --help`)
  rate_wpm: null                       # speaking rate, 80..400 words a minute (null: the voice's)
  reply_timeout_ms: 10000              # how long to wait for a reply before going on anyway
network: clean                         # a preset (clean, wifi, lte, poor, satellite) or:
#  {delay_ms: 40, jitter_ms: 80, jitter_distribution: normal, loss: 0.05,
#   burst_loss: 0.0, mean_burst_frames: 3, reorder: 0.0}
noise: {sound: babble, snr_db: 15}     # background noise mixed into everything the caller sends:
#                                        pink | brown | babble (bundled) or a WAV path
endpointing: semantic                  # semantic | silence
ear: accurate                          # fast | accurate (overrides the agent's `ear:`; a
#                                        command's --ear overrides this; default: accurate)
silence_ms: 500                        # the silence mode's wait
interruption: pause                    # pause | judge (overrides the agent's
#                                        turn_taking.interruption; default: pause)
latency_profile: measured              # measured | fixed | a bundled profile | a path
seed: 7
steps: [...]                           # required, at least one
expect: {...}                          # expectations for the whole call
```

Steps (what the caller does, in order)
--------------------------------------
Acting steps (`say`, `silence`, `dtmf`, `hang_up`) first wait until the agent has finished
its reply (heard audio, then `reply gap` of quiet; or nothing heard for `reply_timeout_ms`),
unless they set `now: true`. `pause`, `wait_for` and `network` act at once; `barge_in`,
`backchannel` and `sound` are timed against the agent's speech.

```yaml
- say: What are your opening hours?    # in the caller's voice
  expect: {topic: OpeningHours}        # optional: expectations for the agent's reply
- say_wav: recordings/hello.wav        # a recording instead of TTS (relative to the file)
- pause_ms: 800                        # do nothing for a while (no waiting for the agent)
- silence_s: 12                        # after the agent's reply, say nothing for 12 s
- wait_for: agent_starts_speaking      # | agent_stops_speaking | agent_said | topic | handoff
  pattern: /nine|9/                    # agent_said: a substring or /regex/
  topic: BookDemo                      # topic: the topic to wait for
  timeout_ms: 15000                    # a timed-out wait fails the scenario, then goes on
- barge_in: Sorry, what about Saturday?
  at_ms: 1200                          # speech onset this far into the agent's current reply
- backchannel: uh-huh                  # "uh-huh", "yeah", "right", "okay", "mm-hmm", …
  at_ms: 1500
- sound: cough                         # not speech, over the agent's reply: cough | breath |
  at_ms: 1500                          #   door (must not cost the reply)
- dtmf: "4111111111111111#"            # keypad digits 0-9 * # A-D
  interval_ms: 250                     # from one digit to the next
- network: poor                        # change the caller's leg from now (preset or mapping)
- hang_up: true                        # end the call (after the agent's reply unless now: true)
```

A step's `expect` applies to what happened from the step's action to the next acting step.

Expectations
------------
Per turn (a step's `expect`) and for the call (top-level `expect`):

- `topic`: the topic decided (call: the topic the call settled on, as the CRM records it);
- `entities`: `{type_or_slot: value}`: an entity of that type was understood (or a slot of
  that name captured, call level) with that value (case-insensitive; `/regex/` allowed);
- `routed_to`: `ai_resolved` | `human` | `workflow`;
- `agent_said`: a text or a list; each must be in what the agent said (case-insensitive
  substring, or `/regex/`);
- `agent_never_said`: a text or a list; none may appear in anything the agent planned to say;
- `turn_latency_ms`: each turn at the caller ≤ this; call level also `{max: N, p50: N, p95: N}`.

Call only:

- `no_false_interruptions: true`: no acknowledgement or noise cost the agent its reply (an
  *abandoned reply*: dropped, or restarted from the beginning); a short pause that resumes
  from the cut is reported with its resume gap, not failed;
- `barge_in_stop_ms`: for every `barge_in`, caller speech onset → last agent audio heard, ≤;
- `max_wait_ms`: after each thing the caller said, the agent was heard again (an answer or a
  re-prompt) within this long — a caller is never left in silence;
  when the words open with an acknowledgement ("Yeah, but…"), from the onset of the words
  after it, since the agent must let "yeah" pass;
- `reprompts`: the number of no-input/no-match re-prompts, exact or `{min: N, max: N}`;
- `crm`: `[{object: Case, fields: {Origin: Phone, Subject: null}}]`: after the call its record
  is written to a throwaway local org; each object must exist for this call, each field must
  equal the value (`/regex/` allowed; `null`: any non-empty value). `fields` may be a list of
  names (each non-empty);
- `end_reason`: `caller_hung_up` | `agent_ended` | `handoff` | `timeout`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from workbench.audio.network import PRESETS, GilbertElliott, NetworkConditions
from workbench.errors import ConfigError, InputFileError
from workbench.paths import DEMO_AGENT_DIR
from workbench.scenario.persona import Goal, with_persona
from workbench.scenario.schema_problems import scenario_problems
from workbench.yamlfile import (
    format_location,
    node_position,
    read_yaml,
)

BUNDLED_NOISES = ("pink", "brown", "babble")
ROUTES = ("ai_resolved", "human", "workflow")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- texts and patterns


def _check_pattern(value: str) -> str:
    if is_regex(value):
        try:
            re.compile(value[1:-1])
        except re.error as error:
            raise ValueError(f"bad regex {value}: {error}") from None
    elif not value.strip():
        raise ValueError("empty text (give a substring or a /regex/)")
    return value


def is_regex(value: str) -> bool:
    return len(value) >= 2 and value.startswith("/") and value.endswith("/")


def text_matches(pattern: str, text: str) -> bool:
    """`/regex/` searched case-insensitively, else a case-insensitive substring (spaces folded)."""
    if is_regex(pattern):
        return re.search(pattern[1:-1], text, re.IGNORECASE) is not None
    fold = " ".join(pattern.lower().split())
    return fold in " ".join(text.lower().split())


Pattern = Annotated[str, AfterValidator(_check_pattern)]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


PatternList = Annotated[list[Pattern], Field(min_length=1)]


# ---------------------------------------------------------------- header parts


class CallerSpec(_Strict):
    number: str = "+14155550199"
    voice: str = "piper:joe"
    rate_wpm: int | None = Field(default=None, ge=80, le=400)
    reply_timeout_ms: float = Field(default=10000.0, gt=0)


class NetworkSpec(_Strict):
    delay_ms: float = Field(default=0.0, ge=0)
    jitter_ms: float = Field(default=0.0, ge=0)
    jitter_distribution: Literal["normal", "uniform", "pareto"] = "normal"
    loss: float = Field(default=0.0, ge=0, le=1)
    burst_loss: float = Field(default=0.0, ge=0, lt=1, description="long-run loss in bursts")
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


def _known_preset(value: Any) -> Any:
    if isinstance(value, str) and value not in PRESETS:
        raise ValueError(f"unknown network preset {value!r} (expected one of {', '.join(PRESETS)})")
    return value


Network = Annotated[str | NetworkSpec, AfterValidator(_known_preset)]


def network_conditions(network: str | NetworkSpec) -> NetworkConditions:
    if isinstance(network, str):
        return NetworkConditions.preset(network)
    return network.conditions()


class NoiseSpec(_Strict):
    sound: str = Field(description="pink | brown | babble, or a WAV file (relative to the file)")
    snr_db: float = Field(ge=-10, le=60, description="speech level over the noise, dB")


# ---------------------------------------------------------------- expectations


class LatencyLimits(_Strict):
    max: float | None = Field(default=None, gt=0)
    p50: float | None = Field(default=None, gt=0)
    p95: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _something(self) -> LatencyLimits:
        if self.max is None and self.p50 is None and self.p95 is None:
            raise ValueError("give at least one of max, p50, p95")
        return self


class CountRange(_Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class CrmCheck(_Strict):
    object: str = Field(min_length=1, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    fields: dict[str, Pattern | int | float | bool | None] | list[str] = Field(default_factory=dict)

    def expected_fields(self) -> dict[str, Any]:
        if isinstance(self.fields, list):
            return {name: None for name in self.fields}
        return dict(self.fields)


class TurnExpect(_Strict):
    """What must hold for the agent's reply to one step."""

    topic: str | None = None
    entities: dict[str, Pattern] | None = None
    routed_to: Literal["ai_resolved", "human", "workflow"] | None = None
    agent_said: PatternList | None = None
    agent_never_said: PatternList | None = None
    turn_latency_ms: float | None = Field(default=None, gt=0)

    @field_validator("agent_said", "agent_never_said", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)


class CallExpect(_Strict):
    """What must hold for the whole call."""

    topic: str | None = None
    entities: dict[str, Pattern] | None = None
    routed_to: Literal["ai_resolved", "human", "workflow"] | None = None
    agent_said: PatternList | None = None
    agent_never_said: PatternList | None = None
    turn_latency_ms: float | LatencyLimits | None = None
    no_false_interruptions: bool | None = None
    barge_in_stop_ms: float | None = Field(default=None, gt=0)
    reprompts: int | CountRange | None = None
    max_wait_ms: float | None = Field(default=None, gt=0)
    crm: list[CrmCheck] | None = None
    end_reason: Literal["caller_hung_up", "agent_ended", "handoff", "timeout"] | None = None

    @field_validator("agent_said", "agent_never_said", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _as_list(value)


# ---------------------------------------------------------------- steps


class _Acting(_Strict):
    now: bool = Field(default=False, description="act at once, without waiting for the reply")
    expect: TurnExpect | None = None


class SayStep(_Acting):
    say: str = Field(min_length=1)


class SayWavStep(_Acting):
    say_wav: str = Field(min_length=1)


class PauseStep(_Strict):
    pause_ms: float = Field(ge=0)


class SilenceStep(_Acting):
    silence_s: float = Field(gt=0, le=170)


WAIT_EVENTS = ("agent_starts_speaking", "agent_stops_speaking", "agent_said", "topic", "handoff")


class WaitForStep(_Strict):
    wait_for: Literal[
        "agent_starts_speaking", "agent_stops_speaking", "agent_said", "topic", "handoff"
    ]
    pattern: Pattern | None = None
    topic: str | None = None
    timeout_ms: float = Field(default=15000.0, gt=0)

    @model_validator(mode="after")
    def _arguments(self) -> WaitForStep:
        if self.wait_for == "agent_said" and self.pattern is None:
            raise ValueError("wait_for agent_said needs a pattern (a substring or /regex/)")
        if self.wait_for == "topic" and self.topic is None:
            raise ValueError("wait_for topic needs a topic")
        if self.pattern is not None and self.wait_for != "agent_said":
            raise ValueError("pattern is only for wait_for agent_said")
        if self.topic is not None and self.wait_for != "topic":
            raise ValueError("topic is only for wait_for topic")
        return self


class BargeInStep(_Strict):
    barge_in: str = Field(min_length=1)
    at_ms: float = Field(default=1000.0, ge=0)
    expect: TurnExpect | None = None


class BackchannelStep(_Strict):
    backchannel: str = Field(min_length=1)
    at_ms: float = Field(default=1000.0, ge=0)


class SoundStep(_Strict):
    """A sound that is not speech, made over the agent's reply (timed like a backchannel)."""

    sound: Literal["cough", "breath", "door"]
    at_ms: float = Field(default=1000.0, ge=0)


class DtmfStep(_Acting):
    dtmf: str = Field(pattern=r"^[0-9*#A-Da-d]+$", description="keypad digits")
    interval_ms: float = Field(default=250.0, ge=20, le=5000)

    @field_validator("dtmf", mode="before")
    @classmethod
    def _digits_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError('quote the digits (e.g. "1234#") so YAML keeps them as text')
        return value


class NetworkStep(_Strict):
    network: Network


class HangUpStep(_Strict):
    hang_up: Literal[True]
    now: bool = False


# The key that names each kind of step, in the order they are recognised.
STEP_KEYS: dict[str, str] = {
    "say": "say",
    "say_wav": "say_wav",
    "pause_ms": "pause",
    "silence_s": "silence",
    "wait_for": "wait_for",
    "barge_in": "barge_in",
    "backchannel": "backchannel",
    "sound": "sound",
    "dtmf": "dtmf",
    "network": "network",
    "hang_up": "hang_up",
}
_TAGS = frozenset(STEP_KEYS.values())


def _step_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return _KIND_BY_CLASS.get(type(value))
    if isinstance(value, dict):
        for key, kind in STEP_KEYS.items():
            if key in value:
                return kind
    return None


Step = Annotated[
    Annotated[SayStep, Tag("say")]
    | Annotated[SayWavStep, Tag("say_wav")]
    | Annotated[PauseStep, Tag("pause")]
    | Annotated[SilenceStep, Tag("silence")]
    | Annotated[WaitForStep, Tag("wait_for")]
    | Annotated[BargeInStep, Tag("barge_in")]
    | Annotated[BackchannelStep, Tag("backchannel")]
    | Annotated[SoundStep, Tag("sound")]
    | Annotated[DtmfStep, Tag("dtmf")]
    | Annotated[NetworkStep, Tag("network")]
    | Annotated[HangUpStep, Tag("hang_up")],
    Discriminator(
        _step_kind,
        custom_error_type="bad_step",
        custom_error_message="not a step: expected a mapping with one of " + ", ".join(STEP_KEYS),
    ),
]

_KIND_BY_CLASS: dict[type, str] = {
    SayStep: "say",
    SayWavStep: "say_wav",
    PauseStep: "pause",
    SilenceStep: "silence",
    WaitForStep: "wait_for",
    BargeInStep: "barge_in",
    BackchannelStep: "backchannel",
    SoundStep: "sound",
    DtmfStep: "dtmf",
    NetworkStep: "network",
    HangUpStep: "hang_up",
}


def step_kind(step: BaseModel) -> str:
    return _KIND_BY_CLASS[type(step)]


def describe_step(step: BaseModel) -> str:
    """One line naming a step, for reports: `say "What are your hours?"`."""
    kind = step_kind(step)
    value = getattr(
        step, {"say_wav": "say_wav", "pause": "pause_ms", "silence": "silence_s"}.get(kind, kind)
    )
    if kind == "wait_for":
        extra = step.pattern or step.topic  # type: ignore[attr-defined]
        return f"wait_for {value}" + (f" {extra}" if extra else "")
    if kind == "dtmf":
        return f"dtmf ({len(str(value))} digits)"  # digits may be a card number: never shown
    if kind == "network":
        return f"network {value if isinstance(value, str) else 'custom'}"
    if kind == "pause":
        return f"pause {value:g} ms"
    if kind == "silence":
        return f"silence {value:g} s"
    if kind == "hang_up":
        return "hang_up"
    if kind in ("barge_in", "backchannel", "sound"):
        return f"{kind} {value!r} at {step.at_ms:g} ms"  # type: ignore[attr-defined]
    return f"{kind} {value!r}"


# ---------------------------------------------------------------- the scenario


class Scenario(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    tags: tuple[str, ...] = ()
    agent: str | None = None
    caller: CallerSpec = CallerSpec()
    network: Network = "clean"
    noise: NoiseSpec | None = None
    endpointing: Literal["semantic", "silence"] = "semantic"
    ear: Literal["fast", "accurate"] | None = None
    interruption: Literal["pause", "judge"] | None = None
    silence_ms: float = Field(default=500.0, gt=0)
    latency_profile: str = "measured"
    seed: int = 0
    steps: tuple[Step, ...] = Field(min_length=1)
    expect: CallExpect = CallExpect()
    # A goal-driven caller (scenario/persona.py): its facts, and rules answering the agent.
    persona: dict[str, str | int | float] = {}
    goal: Goal | None = None
    source: Path | None = Field(default=None, exclude=True)

    def network_conditions(self) -> NetworkConditions:
        return network_conditions(self.network)

    def resolve(self, relative: str) -> Path:
        """A path written in the file, relative to the file."""
        path = Path(relative)
        if not path.is_absolute() and self.source is not None:
            path = (self.source.parent / path).resolve()
        return path

    def agent_path(self) -> Path:
        return DEMO_AGENT_DIR if self.agent is None else self.resolve(self.agent)

    def lines(self) -> list[str]:
        return [step.say for step in self.steps if isinstance(step, SayStep)]


def parse_scenario(path: Path, data: Any, root: yaml.Node | None) -> Scenario:
    if not isinstance(data, dict):
        raise InputFileError(f"{path}:1:1: a scenario must be a mapping of fields")
    try:
        scenario = Scenario.model_validate(with_persona(data))
    except ValidationError as error:
        raise InputFileError(
            "\n".join(scenario_problems(path, root, error, Scenario, _TAGS))
        ) from None
    return scenario.model_copy(update={"source": path.resolve()})


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; every problem becomes one line of an InputFileError."""
    path = Path(path)
    data, root = read_yaml(path, "scenario")
    scenario = parse_scenario(path, data, root)
    problems = _file_problems(path, scenario, root)
    if problems:
        raise InputFileError("\n".join(problems))
    return scenario


def _file_problems(path: Path, scenario: Scenario, root: yaml.Node | None) -> list[str]:
    """Checks that need the file system: the agent, recordings and noise files exist."""
    problems: list[tuple[int, int, str]] = []

    def at(loc: tuple[Any, ...], why: str) -> None:
        line, column = node_position(root, loc)
        problems.append((line, column, f"{path}:{line}:{column}: {format_location(loc)}: {why}"))

    if not scenario.agent_path().is_dir():
        at(("agent",), f"no agent directory at {scenario.agent_path()}")
    if scenario.noise is not None and scenario.noise.sound not in BUNDLED_NOISES:
        if not scenario.resolve(scenario.noise.sound).is_file():
            at(
                ("noise", "sound"),
                f"expected {', '.join(BUNDLED_NOISES)} or a WAV file; "
                f"no file at {scenario.resolve(scenario.noise.sound)}",
            )
    for index, step in enumerate(scenario.steps):
        if isinstance(step, SayWavStep) and not scenario.resolve(step.say_wav).is_file():
            at(("steps", index, "say_wav"), f"no WAV file at {scenario.resolve(step.say_wav)}")
    try:
        from workbench.engine.latency import load_profile

        load_profile(scenario.latency_profile, seed=scenario.seed)
    except ConfigError as error:
        at(("latency_profile",), str(error))
    return [text for _, _, text in sorted(problems)]


def find_scenarios(paths: list[Path]) -> list[Path]:
    """Files as given, directories searched for *.yaml (sorted; the files of an agent directory
    are not scenarios); a missing path is an error."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*.yaml")
                if p.is_file()
                and not p.name.startswith(".")
                and not (p.parent / "agent.yaml").is_file()  # an agent's own files
            )
        elif path.is_file():
            found.append(path)
        else:
            raise InputFileError(f"{path}: no such scenario file or directory")
    return found
