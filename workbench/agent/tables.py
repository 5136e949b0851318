"""Tables an agent ships for its `lookup` steps: rows of a YAML file in the agent's folder.

A table file is a list of rows (mappings of column to value), at the top of the file or under
its one key (`orders:`), standing in for a back-office system (order status, opening of a
branch, a price list). Values are kept as text, as templates need them.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import InputFileError
from workbench.yamlfile import read_yaml

Row = dict[str, str]


def load_table(path: Path) -> list[Row]:
    """The rows of `path`; a file that is not such a table raises `InputFileError`."""
    data, _ = read_yaml(path, "table", tree=False)
    if isinstance(data, dict) and len(data) == 1:
        data = next(iter(data.values()))
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
        raise InputFileError(
            f"{path}: a table is a list of rows (column: value), at the top of the file "
            "or under one key"
        )
    return [{str(k): "" if v is None else str(v) for k, v in row.items()} for row in data]


def columns(rows: list[Row]) -> list[str]:
    return sorted({column for row in rows for column in row})


def _key(value: str) -> str:
    """Identifiers match however they are written: "nw 48213" is "NW-48213"."""
    return re.sub(r"[\s\-_.]", "", value).upper()


def find_row(rows: list[Row], column: str, value: str) -> Row | None:
    """The first row whose `column` equals `value`, ignoring case, spaces and dashes."""
    wanted = _key(value)
    if not wanted:
        return None
    return next((row for row in rows if _key(row.get(column, "")) == wanted), None)
