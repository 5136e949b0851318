"""Checks of an agent directory beyond its schema: every name it uses exists.

`agent_problems(directory)` loads `agent.yaml` (syntax and fields, with "did you mean") and then
checks what pydantic cannot see: the knowledge files a topic names, the topics escalation and
card payments name, the lexicon and the lookup steps' tables (and their columns), the voice,
and the values templates use. Each problem is one line,
`file:line:column: field: why`, so `workbench check` can list them all at once.
"""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

import yaml

from workbench.agent.definition import (
    AgentDefinition,
    FieldChoice,
    load_definition_and_tree,
    walk_steps,
)
from workbench.agent.tables import columns, load_table
from workbench.errors import ConfigError, InputFileError
from workbench.yamlfile import did_you_mean, format_location, node_position


def voice_problem(voice: str) -> str | None:
    """Why `voice` cannot speak, or None. Cheap: piper models are not loaded to check."""
    from workbench.speech.tts import PIPER_VOICES, list_voices, load_synthesizer

    backend, _, name = voice.partition(":")
    if backend == "piper" and voice in PIPER_VOICES:
        return None
    if backend == "espeak" and name:
        try:
            load_synthesizer(voice)
            return None
        except ConfigError:
            pass
    return f"unknown voice {voice!r}{did_you_mean(voice, list_voices())} (`workbench voices` lists them)"


def knowledge_files(directory: Path) -> list[str]:
    """The stems of the agent's knowledge documents (`knowledge/*.md`)."""
    folder = directory / "knowledge"
    return sorted(p.stem for p in folder.glob("*.md")) if folder.is_dir() else []


def agent_problems(directory: Path) -> tuple[AgentDefinition | None, list[str]]:
    """The definition (None when it does not load) and every problem found, in file order."""
    directory = Path(directory)
    if directory.is_file():
        directory = directory.parent
    path = directory / "agent.yaml"
    if not path.is_file():
        return None, [f"{directory}: no agent.yaml here (an agent is a folder with agent.yaml)"]
    try:
        definition, root = load_definition_and_tree(path)
    except InputFileError as error:
        return None, str(error).splitlines()
    return definition, _name_problems(directory, path, definition, root)


def _name_problems(
    directory: Path, path: Path, definition: AgentDefinition, root: yaml.Node | None
) -> list[str]:
    found: list[tuple[int, int, str]] = []

    def at(loc: tuple[Any, ...], why: str) -> None:
        line, column = node_position(root, loc)
        found.append((line, column, f"{path}:{line}:{column}: {format_location(loc)}: {why}"))

    topics = [t.name for t in definition.topics]
    stems = knowledge_files(directory)
    for t_index, topic in enumerate(definition.topics):
        for k_index, stem in enumerate(topic.knowledge):
            if stem not in stems:
                hint = did_you_mean(stem, stems)
                at(
                    ("topics", t_index, "knowledge", k_index),
                    f"no knowledge file {stem}.md in {directory / 'knowledge'}{hint}",
                )
    explicit = "topics" in definition.escalation.model_fields_set  # the default may not apply
    for index, name in enumerate(definition.escalation.topics if explicit else ()):
        if name not in topics:
            at(
                ("escalation", "topics", index),
                f"no topic named {name!r}{did_you_mean(name, topics)}",
            )
    if definition.lexicon and not (directory / definition.lexicon).is_file():
        at(("lexicon",), f"file not found: {directory / definition.lexicon}")
    for name, steps in definition.actions.items():
        for loc, step in walk_steps(steps, ("actions", name)):
            if step.lookup:
                table = directory / step.lookup.table
                if not table.is_file():
                    at((*loc, "lookup", "table"), f"file not found: {table}")
                    continue
                try:
                    known = columns(load_table(table))
                except InputFileError as error:
                    at((*loc, "lookup", "table"), str(error))
                    continue
                if step.lookup.column not in known:
                    at(
                        (*loc, "lookup", "column"),
                        f"no column {step.lookup.column!r} in {step.lookup.table}"
                        f"{did_you_mean(step.lookup.column, known)} (columns: {', '.join(known)})",
                    )
    problem = voice_problem(definition.voice)
    if problem:
        at(("voice",), problem)
    for loc, template, known in _templates(definition):
        for name in template_names(template):
            if name not in known:
                at(loc, f"{{{name}}} names no value{did_you_mean(name, known)} in {template!r}")
    return [text for _, _, text in sorted(found)]


_ALWAYS = {"company", "caller", "call", "caller_name"}


def template_names(template: str) -> list[str]:
    """The value names a template uses: '{name} on {when_spoken}' -> ['name', 'when_spoken']."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return []
    return [re.split(r"[.\[]", field)[0] for _, field, _, _ in parsed if field]


def _templates(d: AgentDefinition):
    """(location, template, the names it may use) for declared actions and the answers of
    topics that use them or answer from knowledge."""
    every = [(loc, step) for n, steps in d.actions.items() for loc, step in walk_steps(steps, ("actions", n))]  # fmt: skip
    picked = {step.offer_times.into for _, step in every if step.offer_times}
    references = {step.reference.into for _, step in every if step.reference}
    saved = {step.webhook.save_as for _, step in every if step.webhook}
    saved |= {step.lookup.into for _, step in every if step.lookup}
    values = set(_ALWAYS) | saved
    for name in picked | references:
        values |= {name, f"{name}_spoken"}
    for name in picked:
        values |= {f"{name}_date", f"{name}_time"}
    for topic in d.topics:
        for slot in topic.slots:
            values |= {slot.name, f"{slot.name}_spoken"}
            if slot.entity == "person_name":
                values |= {f"{slot.name}_first", f"{slot.name}_last"}
            if slot.entity == "text":
                values.add(f"{slot.name}_short")
    offer_values = values | {"times", "time1", "time2", "time3", "time4"}
    for where, step in every:
        where = (*where, step.kind)
        kind = getattr(step, step.kind)
        if step.crm:
            for field, value in step.crm.fields.items():
                template = value.from_ if isinstance(value, FieldChoice) else value
                if isinstance(template, str):
                    yield (*where, "fields", field), template, values
            continue
        if step.lookup:
            yield (*where, "value"), step.lookup.value, values
            continue
        wording = step.say if step.kind == "say" else getattr(kind, "say", None)
        wording = wording or getattr(kind, "on_failure", None) or []
        for template in wording:
            yield where, template, offer_values if step.offer_times else values
    for index, topic in enumerate(d.topics):
        if topic.action in d.actions or topic.action == "answer":
            for template in topic.answer:
                yield ("topics", index, "answer"), template, values | {"knowledge"}
        for s_index, slot in enumerate(topic.slots):
            yield (
                ("topics", index, "slots", s_index, "read_back"),
                slot.read_back,
                values | {"value"},
            )
