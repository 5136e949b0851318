"""A scenario's validation errors as lines a person can act on: ``file:line:column: field: why``.

Apart from `schema.py` (the format) because the wording is its own craft: pydantic reports
one error per member of a union (a step, a network spec or a preset name), and only the
member the writer meant should speak, at the place in the file they have to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from workbench.yamlfile import did_you_mean, field_names_at, format_location, node_position

_MEMBER_MODELS = ("NetworkSpec", "LatencyLimits", "CountRange")


def _is_member_label(part: Any) -> bool:
    """A union member's label in a pydantic location (`str`, `list[str]`, `CountRange`…)."""
    if not isinstance(part, str):
        return False
    return (
        part in _MEMBER_MODELS
        or part in ("str", "int", "float", "bool", "none")
        or part.startswith(("constrained-", "list[", "dict[", "function-"))
    )


def _clean_loc(loc: tuple[Any, ...], tags: frozenset[str]) -> tuple[Any, ...]:
    out: list[Any] = []
    for i, part in enumerate(loc):
        if _is_member_label(part):
            continue
        # a step's kind tag follows its index: steps[2].say.now → steps[2].now
        if i >= 2 and part in tags and isinstance(loc[i - 1], int) and loc[i - 2] == "steps":
            continue
        out.append(part)
    return tuple(out)


def _relevant(item: dict[str, Any]) -> bool:
    """Of a union's per-member errors keep those of the member the input was meant for."""
    members = [p for p in item["loc"] if _is_member_label(p)]
    is_mapping = isinstance(item.get("input"), dict)
    if item["type"] in ("model_type", "dict_type", "model_attributes_type") and not is_mapping:
        return not members  # the input was a scalar: the scalar member's error says it
    if is_mapping and (item["type"].endswith("_type") or item["type"].endswith("_parsing")):
        return not members  # the input was a mapping: the model member's errors say it
    return True


def scenario_problems(
    path: Path,
    root: yaml.Node | None,
    error: ValidationError,
    model: type[BaseModel],
    tags: frozenset[str],
) -> list[str]:
    """file:line:column: field: why (one line per problem, in file order); `model` is the
    scenario's, `tags` the keys that name a kind of step."""
    items = [item for item in error.errors() if _relevant(item)] or error.errors()
    located = []
    for item in items:
        loc = _clean_loc(tuple(item["loc"]), tags)
        if item["type"] == "too_short" and any(
            len(other["loc"]) > len(item["loc"]) and tuple(other["loc"][: len(loc)]) == loc
            for other in items
        ):
            continue  # "at least 1 step" because the steps themselves were invalid
        line, column = node_position(root, loc)
        located.append(
            (line, column, f"{path}:{line}:{column}: {format_location(loc)}: {_why(item, model)}")
        )
    located.sort(key=lambda entry: (entry[0], entry[1]))
    return list(dict.fromkeys(text for _, _, text in located))


def _why(item: dict[str, Any], model: type[BaseModel]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        names = field_names_at(model, tuple(item["loc"]))
        return "unknown field" + (
            did_you_mean(str(item["loc"][-1]), names) or " (check the spelling)"
        )
    if kind == "missing":
        return "required field is missing"
    if kind == "bad_step":
        return item["msg"]
    message = item["msg"]
    if message.startswith("Value error, "):
        return message[len("Value error, ") :]
    message = message.replace("Input should be", "expected")
    if kind.endswith("_type") or kind.endswith("_parsing") or kind.startswith("literal_error"):
        return f"{message}, got {item['input']!r}"
    return message
