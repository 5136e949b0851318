"""`workbench check`: agents and scenarios validated together, before any call is placed.

A scenario is only as good as the names it uses: an expectation naming a topic the agent does
not have can never pass, and would otherwise fail at run time looking like the agent's mistake.
`check_paths` loads every agent and scenario under the given paths and reports, one line each
(`file:line:column: field: why`, with "did you mean" where a close name exists):

- YAML syntax errors in plain words, unknown or missing fields, wrong values (the schemas);
- in an agent: knowledge files, topics, lexicon and order files and the voice it names;
- in a scenario: its agent loads, and every topic, slot or entity type and caller voice it
  names exists in that agent.

`workbench run` calls the same function first, so a broken file stops the run with exit 2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.agent.check import agent_problems, voice_problem
from workbench.agent.definition import ENTITY_TYPES, UNKNOWN_TOPIC, AgentDefinition, walk_steps
from workbench.errors import InputFileError
from workbench.scenario.schema import (
    Scenario,
    WaitForStep,
    find_scenarios,
    load_scenario,
)
from workbench.yamlfile import did_you_mean, format_location, node_position, read_yaml


@dataclass
class CheckResult:
    agents: list[Path] = field(default_factory=list)
    scenarios: list[Scenario] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def is_agent_dir(path: Path) -> bool:
    return path.is_dir() and (path / "agent.yaml").is_file()


def check_paths(paths: Sequence[Path]) -> CheckResult:
    """Check every agent directory and scenario file under `paths` (an agent directory's own
    `scenarios/` folder is checked with it)."""
    result = CheckResult()
    agents: dict[Path, tuple[AgentDefinition | None, list[str]]] = {}

    def agent(directory: Path) -> tuple[AgentDefinition | None, list[str]]:
        directory = directory.resolve()
        if directory not in agents:
            definition, problems = agent_problems(directory)
            if definition is not None:
                problems += crm_field_problems(directory / "agent.yaml", definition)
            agents[directory] = definition, problems
            result.agents.append(directory)
            result.problems += problems
        return agents[directory]

    scenario_paths: list[Path] = []
    for path in paths:
        if path.is_file() and path.name == "agent.yaml":
            path = path.parent
        if is_agent_dir(path):
            agent(path)
            if (path / "scenarios").is_dir():
                scenario_paths.append(path / "scenarios")
        else:
            scenario_paths.append(path)
    try:
        files = find_scenarios(scenario_paths)
    except InputFileError as error:
        result.problems.append(str(error))
        return result
    names: dict[str, Path] = {}
    for file in files:
        try:
            scenario = load_scenario(file)
        except InputFileError as error:
            result.problems += str(error).splitlines()
            continue
        if scenario.name in names:
            result.problems.append(
                f"{file}:1:1: name: {scenario.name!r} is also the name of {names[scenario.name]} "
                "(scenario names must be unique)"
            )
        names[scenario.name] = file
        result.scenarios.append(scenario)
        definition, problems = agent(scenario.agent_path())
        if definition is None:
            if problems:
                result.problems.append(
                    f"{file}: its agent {scenario.agent_path()} has problems (listed above)"
                )
            continue
        result.problems += scenario_name_problems(file, scenario, definition)
    return result


def scenario_name_problems(path: Path, scenario: Scenario, agent: AgentDefinition) -> list[str]:
    """Every topic, slot/entity and voice the scenario names exists for its agent."""
    _, root = read_yaml(path, "scenario")
    found: list[tuple[int, int, str]] = []

    def at(loc: tuple[Any, ...], why: str) -> None:
        line, column = node_position(root, loc)
        found.append((line, column, f"{path}:{line}:{column}: {format_location(loc)}: {why}"))

    topics = [t.name for t in agent.topics] + [UNKNOWN_TOPIC]
    slots = sorted({s.name for t in agent.topics for s in t.slots})
    entity_names = sorted(set(slots) | set(ENTITY_TYPES))

    def topic(loc: tuple[Any, ...], name: str | None) -> None:
        if name is not None and name not in topics:
            at(
                loc,
                f"the agent has no topic {name!r}{did_you_mean(name, topics)}; "
                f"its topics: {', '.join(topics)}",
            )

    def expectations(loc: tuple[Any, ...], expect: Any) -> None:
        if expect is None:
            return
        topic((*loc, "topic"), expect.topic)
        for key in expect.entities or {}:
            if key not in entity_names:
                at(
                    (*loc, "entities", key),
                    f"no slot or entity type {key!r}{did_you_mean(key, entity_names)}; "
                    f"the agent's slots: {', '.join(slots) or 'none'}",
                )

    expectations(("expect",), scenario.expect)
    for index, step in enumerate(scenario.steps):
        expectations(("steps", index, "expect"), getattr(step, "expect", None))
        if isinstance(step, WaitForStep):
            topic(("steps", index, "topic"), step.topic)
    if "voice" in scenario.caller.model_fields_set:
        problem = voice_problem(scenario.caller.voice)
        if problem:
            at(("caller", "voice"), problem)
    return [text for _, _, text in sorted(set(found))]


def crm_field_problems(path: Path, definition: AgentDefinition) -> list[str]:
    """Every field a `crm` step writes exists on its object in the org and can be written."""
    from workbench.crm.org.schema import OBJECTS

    _, root = read_yaml(path, "agent definition")
    problems = []
    for name, steps in definition.actions.items():
        for where, step in walk_steps(steps, ("actions", name)):  # nested steps too
            if step.crm is None:
                continue
            obj = OBJECTS[step.crm.object]
            writable = [f.name for f in obj.fields if f.createable]
            for field_name in step.crm.fields:
                found = obj.field(field_name)
                if found is None or not found.createable:
                    loc = (*where, "crm", "fields", field_name)
                    line, column = node_position(root, loc)
                    why = "no such field" if found is None else "cannot be written"
                    problems.append(
                        f"{path}:{line}:{column}: {format_location(loc)}: {step.crm.object}."
                        f"{field_name}: {why}{did_you_mean(field_name, writable)}"
                    )
    return problems


def require_valid(paths: Sequence[Path], after: str = "; nothing was run") -> list[Scenario]:
    """The scenarios under `paths`, or `InputFileError` listing every problem (for `run` and
    the pytest plugin)."""
    result = check_paths(paths)
    if result.problems:
        count = len(result.problems)
        raise InputFileError(
            "\n".join(result.problems)
            + f"\n{count} problem{'s' if count != 1 else ''} found{after}"
        )
    return result.scenarios
