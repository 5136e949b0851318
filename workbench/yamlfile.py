"""YAML files validated by pydantic, with problems reported as file:line:column: field: why.

Agents, scenarios, mappings and profiles are files people write by hand; a typo must produce
one clear line per problem that points at the place, never a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from workbench.errors import InputFileError

ModelT = TypeVar("ModelT", bound=BaseModel)


def format_location(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text or "(top level)"


def node_position(root: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int, int]:
    """1-based (line, column) of the YAML node at pydantic location `loc`, or of the nearest
    enclosing node when the location does not exist (a missing field points at its parent)."""
    if root is None:
        return 1, 1
    node = root
    position = (node.start_mark.line + 1, node.start_mark.column + 1)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == part:
                    position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                    node = value_node
                    break
            else:
                return position
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            position = (node.start_mark.line + 1, node.start_mark.column + 1)
        else:
            return position
    return position


def _message(item: dict[str, Any]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown field (check the spelling)"
    if kind == "missing":
        return "required field is missing"
    message = item["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind.startswith("literal_error") or kind == "enum":
        return message.replace("Input should be", "expected")
    return message


def read_yaml(path: str | Path, what: str) -> tuple[Any, yaml.Node | None]:
    """The parsed data and the node tree (for positions) of a YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot read {what} ({error})") from None
    try:
        return yaml.safe_load(text), yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise InputFileError(f"{where}: invalid YAML: {problem}") from None


def validation_problems(path: Path, root: yaml.Node | None, error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        line, column = node_position(root, loc)
        problems.append(f"{path}:{line}:{column}: {format_location(loc)}: {_message(item)}")
    return problems


def load_model(path: str | Path, model: type[ModelT], what: str) -> ModelT:
    """Read `path` and validate it as `model`; every problem becomes one line of the error."""
    path = Path(path)
    data, root = read_yaml(path, what)
    if not isinstance(data, dict):
        raise InputFileError(f"{path}:1:1: a {what} must be a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise InputFileError("\n".join(validation_problems(path, root, error))) from None
