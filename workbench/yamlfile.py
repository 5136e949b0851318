"""Every YAML file a person writes is read here; problems come as file:line:column: field: why.

Agents, scenarios, latency profiles, an agent's tables and held-out lines are files people
write by hand; a typo must produce one clear line per problem that points at the place, never
a traceback. `read_yaml` reads and parses (syntax errors in plain words, `yaml_problem`);
`load_model` validates the result with pydantic and places each problem on its line.
The lexicon and the CRM mapping read through `read_text` and `parse_with` here too (the same
messages for a missing file and for a syntax error) and then walk their own node trees.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from workbench.errors import InputFileError

ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


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


def close_match(word: str, choices: Iterable[str]) -> str | None:
    """The choice `word` was probably meant to be ("exmaples" -> "examples"), or None."""
    choices = list(choices)
    lowered = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'examples'?)' when a choice is close to `word`, else ''."""
    match = close_match(word, choices)
    return f" (did you mean {match!r}?)" if match else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, list, dict, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def field_names_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names allowed at `loc` (the location of an unknown key, key included)."""
    models = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        matching = [m for m in models if part in m.model_fields]
        if not matching:
            # a union member's label: a step kind ('pause' for pause_ms) narrows the members
            tagged = [m for m in models if any(f.startswith(str(part)) for f in m.model_fields)]
            models = tagged or models
            continue
        inner = [i for m in matching for i in _models_in(m.model_fields[part].annotation)]
        models = inner or matching  # a field holding no model is the kind's own key: a label
    return sorted({name for m in models for name in m.model_fields if name != "source"})


def _message(item: dict[str, Any], model: type[BaseModel] | None = None) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        hint = ""
        if model is not None and item["loc"]:
            hint = did_you_mean(str(item["loc"][-1]), field_names_at(model, tuple(item["loc"])))
        return "unknown field" + (hint or " (check the spelling)")
    if kind == "missing":
        return "required field is missing"
    message = item["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind.startswith("literal_error") or kind == "enum":
        return message.replace("Input should be", "expected")
    return message


def read_text(path: str | Path, what: str) -> str:
    """A hand-written file's text; a missing or unreadable file is one clear line."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such {what} file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputFileError(f"{path}: cannot read {what} ({error})") from None


def parse_with(path: str | Path, text: str, parse: Callable[[str], T]) -> T:
    """`parse(text)` (e.g. `yaml.compose`, or a loader of one's own), its syntax errors as
    `yaml_problem` lines at `path`."""
    try:
        return parse(text)
    except yaml.YAMLError as error:
        raise InputFileError(yaml_problem(Path(path), error)) from None


def read_yaml(path: str | Path, what: str, *, tree: bool = True) -> tuple[Any, yaml.Node | None]:
    """The parsed data and the node tree (for positions; None when `tree` is False, which
    saves parsing the text twice) of a YAML file."""
    text = read_text(path, what)
    return parse_with(path, text, lambda t: (yaml.safe_load(t), yaml.compose(t) if tree else None))


def yaml_problem(path: Path, error: yaml.YAMLError) -> str:
    """A YAML syntax error in plain words, at file:line:column of the line to fix."""
    mark = getattr(error, "problem_mark", None)
    context_mark = getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    opened = f"line {context_mark.line + 1}" if context_mark else "above"
    plain = problem
    if problem.startswith("expected <block end>"):
        plain = (
            "this line is indented differently from the lines above it; entries of one list or "
            f"mapping must start in the same column (the block begins on {opened})"
        )
    elif problem == "mapping values are not allowed here":
        plain = (
            "unexpected ':'; either this line is indented further than the one above it, or a "
            "value holds ': ' and must be put in quotes"
        )
    elif "'\\t'" in problem:
        plain = "a tab character; YAML indents with spaces only"
    elif problem == "could not find expected ':'" and context_mark is not None:
        mark = context_mark  # the line without its colon, not the next one
        plain = "this line is not 'key: value' (a missing ':'?) or is indented wrongly"
    elif problem == "found unexpected end of stream" and context_mark is not None:
        mark = context_mark
        plain = "a quote opened here is never closed"
    elif problem.startswith("expected ',' or ']'") or problem.startswith("expected ',' or '}'"):
        closer = "]" if "]" in problem else "}"
        plain = f"a list or mapping opened on {opened} is not closed: a missing '{closer}' or ','"
    elif problem.startswith("found undefined alias"):
        plain = problem + " ('*' starts an alias: put the value in quotes)"
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
    return f"{where}: invalid YAML: {plain}"


def validation_problems(
    path: Path,
    root: yaml.Node | None,
    error: ValidationError,
    model: type[BaseModel] | None = None,
) -> list[str]:
    problems = []
    for item in error.errors():
        loc = tuple(part for part in item["loc"] if not str(part).startswith("function-"))
        line, column = node_position(root, loc)
        message = _message(item, model)
        problems.append(f"{path}:{line}:{column}: {format_location(loc)}: {message}")
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
        raise InputFileError("\n".join(validation_problems(path, root, error, model))) from None
