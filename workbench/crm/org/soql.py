"""A SOQL subset: parser and evaluator for the local org.

Supported:

    SELECT field, Parent.Field, … | COUNT()
    FROM Object
    [WHERE condition]      comparisons = != <> < > <= >=, IN (…), NOT IN (…), LIKE ('%', '_'),
                           AND / OR / NOT with parentheses (AND and OR are not mixed without
                           parentheses, as in SOQL), literals: 'strings', numbers, TRUE/FALSE,
                           NULL, dates 2024-01-31 and datetimes 2024-01-31T09:00:00Z
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …]
    [LIMIT n] [OFFSET n]

String comparisons are case-insensitive, as in Salesforce. Relationship fields (`Account.Name`,
`RelatedRecord.Name`, `Parent__r.Field__c`) follow one reference hop. Anything else (GROUP BY,
subqueries, date keywords like TODAY, …) is answered with 400 MALFORMED_QUERY naming the problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from workbench.crm.org.errors import ApiError
from workbench.crm.org.ids import normalize_id
from workbench.crm.org.records import format_datetime, parse_datetime
from workbench.crm.org.schema import (
    NUMBER_TYPES,
    OBJECTS,
    STRING_TYPES,
    FieldDef,
    ObjectDef,
    find_object,
)

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>[+-]?\d+(?:\.\d+)?)
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
    """,
    re.VERBOSE,
)
_UNSUPPORTED = {
    "GROUP": "GROUP BY",
    "HAVING": "HAVING",
    "WITH": "WITH",
    "FOR": "FOR VIEW/UPDATE",
    "TYPEOF": "TYPEOF",
    "USING": "USING SCOPE",
    "INCLUDES": "INCLUDES",
    "EXCLUDES": "EXCLUDES",
}
_DATE_KEYWORDS = re.compile(r"^(TODAY|YESTERDAY|TOMORROW|(LAST|NEXT)_\w+|THIS_\w+)(:\d+)?$", re.I)


def malformed(message: str) -> ApiError:
    return ApiError(400, "MALFORMED_QUERY", message)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True)
class FieldRef:
    """A column: `path` as written; `field` on the base object or the related one."""

    path: str
    relationship: FieldDef | None  # the reference field followed, if any
    field: FieldDef
    output_name: str  # canonical spelling, e.g. Account.Name


@dataclass(frozen=True)
class Comparison:
    ref: FieldRef
    op: str  # = != < > <= >= IN NOT_IN LIKE
    value: object


@dataclass(frozen=True)
class BoolOp:
    op: str  # AND OR NOT
    parts: tuple


@dataclass(frozen=True)
class OrderKey:
    ref: FieldRef
    descending: bool
    nulls_first: bool


@dataclass
class Query:
    obj: ObjectDef
    fields: list[FieldRef] = field(default_factory=list)
    count_only: bool = False
    where: object = None
    order: list[OrderKey] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0


def _tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise malformed(f"unexpected character {text[pos]!r} at position {pos} in query")
        if match.lastgroup != "ws":
            tokens.append(Token(match.lastgroup or "", match.group(), pos))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0
        self.query: Query | None = None

    # -- token helpers
    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def next(self, what: str) -> Token:
        token = self.peek()
        if token is None:
            raise malformed(f"unexpected end of query: expected {what}")
        self.i += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "ident" and token.upper in words

    def expect_keyword(self, word: str) -> None:
        token = self.next(word)
        if token.kind != "ident" or token.upper != word:
            raise malformed(f"unexpected token: '{token.text}' (expected {word})")

    def expect_punct(self, char: str) -> None:
        token = self.next(repr(char))
        if token.text != char:
            raise malformed(f"unexpected token: '{token.text}' (expected '{char}')")

    def check_supported(self) -> None:
        token = self.peek()
        if token is not None and token.kind == "ident" and token.upper in _UNSUPPORTED:
            raise malformed(f"{_UNSUPPORTED[token.upper]} is not supported by the local org")

    # -- grammar
    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        columns: list[str] = []
        count_only = False
        if self.at_keyword("COUNT"):
            self.i += 1
            self.expect_punct("(")
            self.expect_punct(")")
            count_only = True
        else:
            while True:
                token = self.next("a field name")
                if token.text == "(":
                    raise malformed("subqueries are not supported by the local org")
                if token.kind != "ident" or token.upper == "FROM":
                    raise malformed(f"unexpected token: '{token.text}' (expected a field name)")
                if self.peek() is not None and self.peek().text == "(":
                    raise malformed(f"function {token.text}() is not supported (only COUNT())")
                columns.append(token.text)
                if self.peek() is not None and self.peek().text == ",":
                    self.i += 1
                    continue
                break
        self.expect_keyword("FROM")
        name = self.next("an object name")
        if name.kind != "ident":
            raise malformed(f"unexpected token: '{name.text}' (expected an object name)")
        obj = find_object(name.text)
        if obj is None:
            raise ApiError(400, "INVALID_TYPE", f"sObject type '{name.text}' is not supported.")
        if obj.is_event:
            raise ApiError(
                400,
                "INVALID_TYPE",
                f"sObject type '{obj.name}' is a platform event and cannot be queried.",
            )
        query = self.query = Query(obj=obj, count_only=count_only)
        seen = set()
        for column in columns:
            ref = self.ref(column)
            if ref.output_name.lower() not in seen:
                seen.add(ref.output_name.lower())
                query.fields.append(ref)
        self.check_supported()
        if self.at_keyword("WHERE"):
            self.i += 1
            query.where = self.condition()
        self.check_supported()
        if self.at_keyword("ORDER"):
            self.i += 1
            self.expect_keyword("BY")
            query.order = self.order_list()
        self.check_supported()
        if self.at_keyword("LIMIT"):
            self.i += 1
            query.limit = self.integer("LIMIT")
        if self.at_keyword("OFFSET"):
            self.i += 1
            query.offset = self.integer("OFFSET")
        self.check_supported()
        token = self.peek()
        if token is not None:
            raise malformed(f"unexpected token: '{token.text}' at position {token.pos}")
        return query

    def integer(self, clause: str) -> int:
        token = self.next(f"a number after {clause}")
        if token.kind != "number" or not token.text.isdigit():
            raise malformed(f"{clause} needs a non-negative whole number, got '{token.text}'")
        return int(token.text)

    def ref(self, path: str) -> FieldRef:
        assert self.query is not None
        obj = self.query.obj
        parts = path.split(".")
        if parts[0].lower() == obj.name.lower() and len(parts) > 1:
            parts = parts[1:]  # "Contact.Name" FROM Contact
        if len(parts) == 1:
            f = obj.field(parts[0])
            if f is None:
                raise _no_column(parts[0], obj.name)
            return FieldRef(path, None, f, f.name)
        if len(parts) > 2:
            raise malformed(f"relationship path '{path}' is too deep (one hop only)")
        relation = next(
            (f for f in obj.fields if (f.relationship_name or "").lower() == parts[0].lower()), None
        )
        if relation is None:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{parts[0]}' in field path. If you are attempting to "
                f"use a custom relationship, be sure to append the '__r' after the custom "
                f"relationship name.",
            )
        target = None
        for name in relation.reference_to:
            target = OBJECTS[name].field(parts[1])
            if target is not None:
                break
        if target is None:
            raise _no_column(parts[1], "/".join(relation.reference_to))
        return FieldRef(path, relation, target, f"{relation.relationship_name}.{target.name}")

    def order_list(self) -> list[OrderKey]:
        keys = []
        while True:
            token = self.next("a field name after ORDER BY")
            if token.kind != "ident":
                raise malformed(f"unexpected token: '{token.text}' (expected a field in ORDER BY)")
            ref = self.ref(token.text)
            descending = False
            if self.at_keyword("ASC", "DESC"):
                descending = self.next("ASC").upper == "DESC"
            nulls_first = not descending
            if self.at_keyword("NULLS"):
                self.i += 1
                which = self.next("FIRST or LAST")
                if which.upper not in ("FIRST", "LAST"):
                    raise malformed(f"unexpected token: '{which.text}' (expected FIRST or LAST)")
                nulls_first = which.upper == "FIRST"
            keys.append(OrderKey(ref, descending, nulls_first))
            if self.peek() is not None and self.peek().text == ",":
                self.i += 1
                continue
            return keys

    def condition(self) -> object:
        parts = [self.unary()]
        joiner = None
        while self.at_keyword("AND", "OR"):
            word = self.next("AND").upper
            if joiner is not None and word != joiner:
                raise malformed(
                    f"unexpected token: '{word}': use parentheses when mixing AND and OR"
                )
            joiner = word
            parts.append(self.unary())
        return parts[0] if joiner is None else BoolOp(joiner, tuple(parts))

    def unary(self) -> object:
        if self.at_keyword("NOT"):
            self.i += 1
            return BoolOp("NOT", (self.unary(),))
        token = self.peek()
        if token is not None and token.text == "(":
            self.i += 1
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        token = self.next("a field name in WHERE")
        if token.kind != "ident":
            raise malformed(f"unexpected token: '{token.text}' (expected a field name in WHERE)")
        ref = self.ref(token.text)
        op_token = self.next("an operator")
        if op_token.kind == "op":
            op = {"<>": "!="}.get(op_token.text, op_token.text)
            return Comparison(ref, op, self.literal(ref))
        word = op_token.upper
        if word == "NOT" and self.at_keyword("IN"):
            self.i += 1
            word = "NOT_IN"
        if word in ("IN", "NOT_IN"):
            self.expect_punct("(")
            if self.at_keyword("SELECT"):
                raise malformed(
                    "semi-join subqueries (IN (SELECT …)) are not supported by the local org"
                )
            values = [self.literal(ref)]
            while self.peek() is not None and self.peek().text == ",":
                self.i += 1
                values.append(self.literal(ref))
            self.expect_punct(")")
            return Comparison(ref, word, tuple(values))
        if word == "LIKE":
            if ref.field.type not in STRING_TYPES:
                raise ApiError(
                    400, "INVALID_FIELD", f"invalid operator on {ref.field.type} field: LIKE"
                )
            pattern = self.next("a pattern after LIKE")
            if pattern.kind != "string":
                raise malformed("LIKE needs a quoted pattern, e.g. Name LIKE 'Acme%'")
            return Comparison(ref, "LIKE", _like_regex(_unquote(pattern.text)))
        if word in _UNSUPPORTED:
            raise malformed(f"{_UNSUPPORTED[word]} is not supported by the local org")
        raise malformed(
            f"unexpected token: '{op_token.text}' (expected an operator after {token.text})"
        )

    def literal(self, ref: FieldRef) -> object:
        token = self.next("a value")
        kind, text, f = token.kind, token.text, ref.field
        if kind == "ident" and token.upper == "NULL":
            return None
        if kind == "ident" and _DATE_KEYWORDS.match(text):
            raise malformed(f"date literal {text} is not supported by the local org")
        expected = _literal_kind(f)
        problem = None
        if expected == "string":
            if kind != "string":
                problem = "must be of type string and should be enclosed in quotes"
            elif f.type in ("id", "reference"):
                # 15-character ids are accepted and compared in their 18-character form.
                value = _unquote(text)
                return normalize_id(value) or value
            else:
                return _unquote(text)
        elif expected == "number":
            if kind != "number":
                problem = f"must be of type {f.type} and should not be enclosed in quotes"
            else:
                return float(text)
        elif expected == "boolean":
            if kind != "ident" or token.upper not in ("TRUE", "FALSE"):
                problem = "must be of type boolean and should not be enclosed in quotes"
            else:
                return token.upper == "TRUE"
        elif expected == "datetime":
            moment = parse_datetime(text) if kind == "datetime" else None
            if moment is None:
                problem = "must be of type dateTime and should not be enclosed in quotes"
            else:
                return format_datetime(moment)
        elif expected == "date":
            if kind != "date":
                problem = "must be of type date and should not be enclosed in quotes"
            else:
                return date.fromisoformat(text).isoformat()
        raise ApiError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{f.name}' {problem}",
            [f.name],
        )


def _literal_kind(f: FieldDef) -> str:
    if f.type in STRING_TYPES:
        return "string"
    if f.type in NUMBER_TYPES:
        return "number"
    return {"boolean": "boolean", "datetime": "datetime", "date": "date"}[f.type]


def _no_column(name: str, obj_name: str) -> ApiError:
    return ApiError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{obj_name}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name.",
        [name],
    )


def _unquote(text: str) -> str:
    return re.sub(
        r"\\(.)",
        lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
        text[1:-1],
    )


def _like_regex(pattern: str) -> re.Pattern[str]:
    out, escaped = [], False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def parse(text: str) -> Query:
    """Parse a SOQL query; raises ApiError (MALFORMED_QUERY, INVALID_FIELD, INVALID_TYPE)."""
    if not text or not text.strip():
        raise malformed("the query is empty")
    return _Parser(text).parse()


# ---------------------------------------------------------------------- evaluation

Lookup = Callable[[str], dict | None]  # id -> parent record (or None)


def _value(record: dict, ref: FieldRef, lookup: Lookup) -> object:
    if ref.relationship is None:
        return record.get(ref.field.name)
    parent_id = record.get(ref.relationship.name)
    parent = lookup(parent_id) if parent_id else None
    return parent.get(ref.field.name) if parent else None


def _key(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _compare(value: object, op: str, literal: object) -> bool:
    if op in ("IN", "NOT_IN"):
        inside = any(_compare(value, "=", item) for item in literal)  # type: ignore[union-attr]
        return inside if op == "IN" else not inside
    if op == "LIKE":
        return isinstance(value, str) and literal.fullmatch(value) is not None  # type: ignore[union-attr]
    if literal is None or value is None:
        if op == "=":
            return value is None and literal is None
        if op == "!=":
            return (value is None) != (literal is None)
        return False
    a, b = _key(value), _key(literal)
    try:
        return {
            "=": a == b,
            "!=": a != b,
            "<": a < b,
            ">": a > b,
            "<=": a <= b,
            ">=": a >= b,
        }[op]
    except TypeError:
        return False


def matches(condition: object, record: dict, lookup: Lookup) -> bool:
    if condition is None:
        return True
    if isinstance(condition, Comparison):
        return _compare(_value(record, condition.ref, lookup), condition.op, condition.value)
    assert isinstance(condition, BoolOp)
    if condition.op == "NOT":
        return not matches(condition.parts[0], record, lookup)
    if condition.op == "AND":
        return all(matches(part, record, lookup) for part in condition.parts)
    return any(matches(part, record, lookup) for part in condition.parts)


def indexed_equalities(condition: object) -> list[tuple[str, str]]:
    """(field, value) pairs that every matching record must satisfy exactly (ASCII text).

    The caller may narrow the candidate rows with an index on any one of them; the full
    condition is still evaluated afterwards, so this only has to be a necessary condition.
    """
    if isinstance(condition, Comparison):
        ref, value = condition.ref, condition.value
        if condition.op == "=" and ref.relationship is None and isinstance(value, str):
            if value.isascii():
                return [(ref.field.name, value)]
        return []
    if isinstance(condition, BoolOp) and condition.op == "AND":
        return [pair for part in condition.parts for pair in indexed_equalities(part)]
    return []


def execute(query: Query, rows: list[dict], lookup: Lookup) -> list[dict]:
    """Filter, order and slice `rows`; returns the matching raw records."""
    selected = [row for row in rows if matches(query.where, row, lookup)]
    for key in reversed(query.order):  # stable sorts, last key first
        present = [r for r in selected if _value(r, key.ref, lookup) is not None]
        absent = [r for r in selected if _value(r, key.ref, lookup) is None]
        present.sort(key=lambda r, k=key: _key(_value(r, k.ref, lookup)), reverse=key.descending)
        selected = absent + present if key.nulls_first else present + absent
    end = None if query.limit is None else query.offset + query.limit
    return selected[query.offset : end]


def project(query: Query, record: dict, lookup: Lookup, url: Callable[[str, str], str]) -> dict:
    """The record as a query returns it: attributes, then the selected columns in order."""
    out: dict = {"attributes": {"type": query.obj.name, "url": url(query.obj.name, record["Id"])}}
    for ref in query.fields:
        if ref.relationship is None:
            out[ref.field.name] = record.get(
                ref.field.name, False if ref.field.type == "boolean" else None
            )
            continue
        rel_name = ref.relationship.relationship_name or ""
        parent_id = record.get(ref.relationship.name)
        parent = lookup(parent_id) if parent_id else None
        if parent is None:
            out.setdefault(rel_name, None)
            continue
        nested = out.get(rel_name)
        if nested is None:
            nested = {
                "attributes": {"type": parent["__type"], "url": url(parent["__type"], parent_id)}
            }
            out[rel_name] = nested
        nested[ref.field.name] = parent.get(ref.field.name)
    return out
