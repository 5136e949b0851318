"""The CRM mapping as data: which CallRecord artefact goes into which Salesforce field.

The default is `assets/crm/mapping.yaml` (its header documents the format). `load_mapping(path)`
reads and checks a mapping file (errors name file, line and field); `validate_mapping(mapping,
describe)` checks it against the org's `describe()` of each object and raises ONE `ConfigError`
listing every missing field; `build_call_items(record, mapping)` turns a (redacted) call into
the outbox items to deliver.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.crm.outbox import NewItem
from workbench.crm.redaction import redact_text, redact_transcript
from workbench.errors import ConfigError, InputFileError
from workbench.paths import ASSETS_DIR
from workbench.yamlfile import parse_with, read_text

log = logging.getLogger(__name__)

DEFAULT_MAPPING_PATH = ASSETS_DIR / "crm" / "mapping.yaml"

CALL_ARTEFACTS = {
    "call_id": "the call id (idempotency key)",
    "from_number": "caller number",
    "to_number": "agent line number",
    "started_at": "call start (UTC datetime)",
    "ended_at": "call end (UTC datetime)",
    "duration_s": "talk time in seconds (float)",
    "duration_whole_s": "talk time in whole seconds (int)",
    "intent": "topic the agent settled on",
    "intent_confidence": "its confidence 0..1",
    "disposition": "business outcome (ai_resolved, escalated_to_human, ...)",
    "routed_to": "queue/person the call was handed to",
    "transcript": "redacted transcript text (empty without consent)",
    "summary": "redacted call summary",
    "captured": "captured entities as JSON (redacted)",
    "consent": "caller consent (bool)",
    "recording_url": "recording link (empty without consent)",
    "redaction_confidence": "confidence that no PII remains (0..1)",
    "previous_call_id": "call id of the previous leg (transfers)",
    "next_call_id": "call id of the next leg (transfers)",
}
EVENT_ARTEFACTS = {
    "call_id": "the call id",
    "event_type": "event type",
    "event_payload": "payload JSON, including the event uuid",
    "event_at": "when it happened (UTC datetime)",
    "event_id": "the event's uuid",
}


@dataclass(frozen=True)
class FieldRule:
    """How one Salesforce field gets its value."""

    field: str
    source: str | None = None  # artefact name
    const: Any = None
    values: dict[str, Any] | None = None
    default: Any = None
    lookup_object: str | None = None
    lookup_by: str | None = None
    line: int = 0


@dataclass(frozen=True)
class ObjectMapping:
    """The rules of one object; `external_id` keys its upserts, `links` are id references."""

    object: str
    fields: tuple[FieldRule, ...]
    external_id: str | None = None
    key_suffix: str = ""
    related_record: str | None = None
    links: dict[str, str] = field(default_factory=dict)  # field -> action object it points to
    line: int = 0


@dataclass(frozen=True)
class CrmMapping:
    """A whole mapping file; `schemas` holds describe field metadata once validated."""

    voice_call: ObjectMapping
    event: ObjectMapping
    actions: dict[str, ObjectMapping]
    source: str = ""
    schemas: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def objects(self) -> list[ObjectMapping]:
        return [self.voice_call, self.event, *self.actions.values()]


# -- loading ----------------------------------------------------------------------------------


class _LineLoader(yaml.SafeLoader):
    """A SafeLoader whose mappings remember the line of each key (`_Lines`)."""


class _Lines(dict):
    lines: dict[str, int]
    line: int


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> _Lines:
    result = _Lines()
    result.lines = {}
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[str(key)] = key_node.start_mark.line + 1
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_mapping(path: Path | str | None = None) -> CrmMapping:
    """Read a mapping file (default: the canonical `assets/crm/mapping.yaml`)."""
    path = Path(path) if path is not None else DEFAULT_MAPPING_PATH
    text = read_text(path, "CRM mapping")
    data = parse_with(path, text, lambda t: yaml.load(t, Loader=_LineLoader))  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, _Lines):
        raise InputFileError(f"{path}:1: the CRM mapping must be a mapping with voice_call, event")

    def fail(line: int, what: str) -> ConfigError:
        return ConfigError(f"{path}:{line}: {what}")

    def section(parent: _Lines, key: str, required: bool = True) -> _Lines | None:
        value = parent.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, _Lines):
            raise fail(parent.lines.get(key, parent.line), f"'{key}' must be a mapping")
        return value

    def rules(node: _Lines, where: str, artefacts: dict[str, str]) -> tuple[FieldRule, ...]:
        fields = section(node, "fields")
        assert fields is not None
        out = []
        for name, spec in fields.items():
            line = fields.lines[str(name)]
            out.append(_rule(str(name), spec, line, f"{where}.fields.{name}", artefacts, fail))
        return tuple(out)

    def object_mapping(node: _Lines, where: str, artefacts: dict[str, str], **extra: Any):
        obj = node.get("object", extra.pop("object", None))
        if not isinstance(obj, str) or not obj:
            raise fail(node.line, f"{where}: 'object' (the sObject name) is required")
        external_id = node.get("external_id")
        if external_id is not None and not isinstance(external_id, str):
            raise fail(
                node.lines.get("external_id", node.line), f"{where}.external_id: a field name"
            )
        return ObjectMapping(
            object=obj,
            fields=rules(node, where, artefacts),
            external_id=external_id,
            line=node.line,
            **extra,
        )

    known = {"voice_call", "event", "actions"}
    for key in data:
        if key not in known:
            raise fail(data.lines[str(key)], f"unknown section '{key}' (expected {sorted(known)})")
    vc_node = section(data, "voice_call")
    assert vc_node is not None
    voice_call = object_mapping(
        vc_node, "voice_call", CALL_ARTEFACTS, related_record=vc_node.get("related_record")
    )
    if voice_call.external_id is None:
        raise fail(vc_node.line, "voice_call.external_id is required (upserts keep retries safe)")
    event_node = section(data, "event")
    assert event_node is not None
    event = object_mapping(event_node, "event", EVENT_ARTEFACTS)
    actions: dict[str, ObjectMapping] = {}
    actions_node = section(data, "actions", required=False) or _Lines()
    for name, node in actions_node.items():
        where = f"actions.{name}"
        if not isinstance(node, _Lines):
            raise fail(actions_node.lines[str(name)], f"'{where}' must be a mapping")
        links = node.get("links") or {}
        if not isinstance(links, dict) or not all(v in actions_node for v in links.values()):
            raise fail(node.lines.get("links", node.line), f"{where}.links must point to actions")
        suffix = str(node.get("key_suffix") or str(name).lower())
        if not re.fullmatch(r"[A-Za-z0-9_]+", suffix):
            raise fail(
                node.lines.get("key_suffix", node.line), f"{where}.key_suffix: use A-Z 0-9 _"
            )
        mapping = object_mapping(
            node, where, CALL_ARTEFACTS, object=str(name), key_suffix=suffix, links=dict(links)
        )
        if mapping.external_id is None:
            raise fail(node.line, f"{where}.external_id is required (upserts keep retries safe)")
        actions[str(name)] = mapping
    return CrmMapping(voice_call=voice_call, event=event, actions=actions, source=str(path))


def _rule(
    name: str,
    spec: Any,
    line: int,
    where: str,
    artefacts: dict[str, str],
    fail: Callable[[int, str], ConfigError],
) -> FieldRule:
    def artefact(value: Any) -> str:
        if value not in artefacts:
            raise fail(line, f"{where}: unknown artefact {value!r} (known: {', '.join(artefacts)})")
        return str(value)

    if isinstance(spec, str):
        return FieldRule(field=name, source=artefact(spec), line=line)
    if isinstance(spec, dict):
        if "const" in spec:
            return FieldRule(field=name, const=spec["const"], line=line)
        if "lookup" in spec:
            if not spec.get("object") or not spec.get("by"):
                raise fail(line, f"{where}: a lookup needs 'object' and 'by'")
            return FieldRule(
                field=name,
                source=artefact(spec["lookup"]),
                lookup_object=str(spec["object"]),
                lookup_by=str(spec["by"]),
                line=line,
            )
        if "from" in spec:
            values = spec.get("values")
            if values is not None and not isinstance(values, dict):
                raise fail(line, f"{where}.values must be a mapping")
            return FieldRule(
                field=name,
                source=artefact(spec["from"]),
                values={str(k).lower(): v for k, v in (values or {}).items()},
                default=spec.get("default"),
                line=line,
            )
    raise fail(
        line,
        f"{where}: expected an artefact name, {{const: ...}}, {{from: ...}} or {{lookup: ...}}",
    )


# -- validation against the org ----------------------------------------------------------------


@dataclass(frozen=True)
class MissingField:
    """A field (or object) the mapping needs and the org lacks; `problem` says why."""

    object: str
    field: str | None
    problem: str
    source: str | None = None  # the artefact feeding it, to suggest a type

    def __str__(self) -> str:
        name = self.object if self.field is None else f"{self.object}.{self.field}"
        return f"{name} ({self.problem})"


def mapping_problems(
    mapping: CrmMapping, describe: Callable[[str], dict[str, Any] | None]
) -> tuple[list[MissingField], dict[str, dict[str, dict[str, Any]]]]:
    """Every field the mapping needs that the org lacks, and the describe metadata it has.

    `describe(object)` returns the object's describe dict, or None when the object does not
    exist (or is not accessible).
    """
    problems: list[MissingField] = []
    schemas: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in mapping.objects():
        described = describe(obj.object)
        if described is None:
            problems.append(MissingField(obj.object, None, "object missing or not accessible"))
            continue
        fields = {f["name"].lower(): f for f in described.get("fields", [])}
        schemas[obj.object] = fields
        wanted: list[tuple[str, str | None, bool]] = [(r.field, r.source, True) for r in obj.fields]
        if obj.external_id:
            wanted.append((obj.external_id, "call_id", False))
        if obj.related_record:
            wanted.append((obj.related_record, None, True))
        wanted.extend((link, None, True) for link in obj.links)
        for name, source, must_create in wanted:
            meta = fields.get(name.lower())
            if meta is None:
                problems.append(MissingField(obj.object, name, "missing", source))
            elif name == obj.external_id and not (meta.get("externalId") or meta.get("idLookup")):
                problems.append(MissingField(obj.object, name, "not an External ID field", source))
            elif must_create and not meta.get("createable", True):
                problems.append(MissingField(obj.object, name, "not createable", source))
    return problems, schemas


def validate_mapping(
    mapping: CrmMapping, describe: Callable[[str], dict[str, Any] | None]
) -> CrmMapping:
    """Check the mapping against the org; ONE `ConfigError` lists everything missing.

    Returns the mapping with the org's field metadata attached (used to coerce values: whole
    numbers for int fields, string lengths, picklist values).
    """
    problems, schemas = mapping_problems(mapping, describe)
    if problems:
        listed = ", ".join(str(p) for p in problems)
        raise ConfigError(
            f"the org lacks what the CRM mapping {mapping.source} needs: {listed}; "
            "`workbench org check` prints the field definitions to deploy"
        )
    return CrmMapping(mapping.voice_call, mapping.event, mapping.actions, mapping.source, schemas)


# -- building outbox items ---------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedCall:
    """A call after redaction: artefact values ready to map."""

    artefacts: dict[str, Any]
    actions: tuple[dict[str, Any], ...]
    redaction_counts: dict[str, int]


def prepare_call(record: CallRecord) -> PreparedCall:
    """Redact everything textual and compute the artefacts (no transcript/recording w/o consent)."""
    redacted = redact_transcript(record.transcript)
    counts = dict(redacted.counts)
    confidence = redacted.confidence

    def clean(value: Any) -> Any:
        nonlocal confidence
        if isinstance(value, str):
            result = redact_text(value)
            confidence *= result.confidence
            for kind, n in result.counts.items():
                counts[kind] = counts.get(kind, 0) + n
            return result.text
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    summary = clean(record.summary)
    captured = clean(dict(record.captured))
    actions = tuple(
        {"object": str(a.get("object", "")), "fields": clean(dict(a.get("fields") or {}))}
        for a in record.intended_actions
    )
    transcript = "\n".join(f"{speaker.capitalize()}: {text}" for speaker, text in redacted.turns)
    artefacts = {
        "call_id": record.call_id,
        "from_number": record.from_number,
        "to_number": record.to_number,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "duration_s": round(float(record.duration_s), 3),
        "duration_whole_s": int(round(record.duration_s)),
        "intent": record.intent,
        "intent_confidence": round(float(record.intent_confidence), 4),
        "disposition": record.disposition,
        "routed_to": record.routed_to,
        "transcript": transcript if record.consent else None,
        "summary": summary,
        "captured": json.dumps(captured, default=str) if captured else None,
        "consent": record.consent,
        "recording_url": record.recording_url if record.consent else None,
        "redaction_confidence": round(confidence, 4),
        "previous_call_id": record.previous_call_id,
        "next_call_id": record.next_call_id,
    }
    return PreparedCall(artefacts, actions, counts)


def build_call_items(record: CallRecord, mapping: CrmMapping) -> list[NewItem]:
    """The outbox items of one call, in delivery order: actions first, then the VoiceCall.

    The VoiceCall's `related_record` and Tasks' `links` refer to earlier items (`{"$ref": i}`),
    so the worker sends them once the record they point to exists. Actions whose object has no
    mapping are skipped with a warning.
    """
    prepared = prepare_call(record)
    items: list[NewItem] = []
    index_of: dict[str, int] = {}  # first item index per action object
    seen: dict[str, int] = {}
    # Records others link to (Case, Lead) go first, so a Task can point at the call's Case.
    targets = {target for rules in mapping.actions.values() for target in rules.links.values()}
    for action in sorted(prepared.actions, key=lambda a: a["object"] not in targets):
        obj = action["object"]
        rules = mapping.actions.get(obj)
        if rules is None:
            log.warning("call %s: no mapping for intended %r action; skipped", record.call_id, obj)
            continue
        seen[obj] = seen.get(obj, 0) + 1
        suffix = rules.key_suffix + (str(seen[obj]) if seen[obj] > 1 else "")
        payload = _apply(rules, prepared.artefacts, mapping)
        payload.update(_coerce_all(obj, action["fields"], mapping))
        # The first link the call can satisfy wins (Salesforce refuses a Task whose WhoId is a
        # Lead and whose WhatId is also set); a link the conversation set itself is kept.
        if not any(link in action["fields"] for link in rules.links):
            for link_field, target in rules.links.items():
                if target in index_of:
                    payload[link_field] = {"$ref": index_of[target]}
                    break
        index_of.setdefault(obj, len(items))
        key = f"{record.call_id}-{suffix}"
        items.append(
            NewItem("upsert", obj, _without(payload, rules.external_id), rules.external_id, key)
        )
    vc = mapping.voice_call
    payload = _apply(vc, prepared.artefacts, mapping)
    if vc.related_record:
        for target in ("Case", "Lead"):
            if target in index_of:
                payload[vc.related_record] = {"$ref": index_of[target]}
                break
    items.append(
        NewItem(
            "upsert", vc.object, _without(payload, vc.external_id), vc.external_id, record.call_id
        )
    )
    return items


def build_event_item(event: CallEvent, mapping: CrmMapping) -> NewItem:
    """The outbox item publishing one platform event.

    Salesforce cannot upsert events, so a redelivery publishes again (at-least-once). The
    `Call_Event__e` schema has no custom uuid field (EventUuid is assigned by the server), so
    the workbench's own `event_id` travels inside the payload JSON for subscribers to dedupe.
    """
    payload_json = json.dumps({"event_id": event.event_id, **event.payload}, default=str)
    artefacts = {
        "call_id": event.call_id,
        "event_type": event.type,
        "event_payload": redact_text(payload_json).text,
        "event_at": event.at,
        "event_id": event.event_id,
    }
    return NewItem("event", mapping.event.object, _apply(mapping.event, artefacts, mapping))


def _without(payload: dict[str, Any], key: str | None) -> dict[str, Any]:
    # The external id travels in the URL; Salesforce wants it out of the body.
    return {k: v for k, v in payload.items() if key is None or k.lower() != key.lower()}


def _apply(rules: ObjectMapping, artefacts: dict[str, Any], mapping: CrmMapping) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    for rule in rules.fields:
        if rule.source is None:
            value = rule.const
        else:
            value = artefacts.get(rule.source)
            if rule.lookup_object:
                if value:
                    payload[rule.field] = {
                        "$lookup": {
                            "object": rule.lookup_object,
                            "by": rule.lookup_by,
                            "value": value,
                        }
                    }
                continue
            if rule.values is not None and value is not None:
                key = str(value).lower()
                value = rule.values.get(key, rule.default if rule.default is not None else value)
        if value is None or value == "":
            continue
        coerced = _coerce(rules.object, rule.field, value, mapping)
        if coerced is not None:
            payload[rule.field] = coerced
    return payload


def _coerce_all(obj: str, fields: dict[str, Any], mapping: CrmMapping) -> dict[str, Any]:
    schema = mapping.schemas.get(obj)
    out = {}
    for name, value in fields.items():
        if schema is not None and name.lower() not in schema:
            # The conversation asked for a field this org lacks; sending it would dead-letter
            # the whole record (INVALID_FIELD), so keep the record and drop the field.
            log.warning("%s has no field %s; dropped from the intended action", obj, name)
            continue
        coerced = _coerce(obj, name, value, mapping)
        if coerced is not None:
            out[name] = coerced
    return out


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _coerce(obj: str, name: str, value: Any, mapping: CrmMapping) -> Any:
    """A JSON value fit for the field: ISO datetimes, ints, truncated strings, picklist values."""
    if isinstance(value, datetime):
        value = (
            value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{value.microsecond // 1000:03d}Z"
        )
    elif isinstance(value, date):
        value = value.isoformat()
    return _fit(obj, name, value, mapping.schemas.get(obj, {}).get(name.lower()))


def coerce_payload(
    obj: str, payload: dict[str, Any], fields: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """Fit a stored payload to the org it is sent to (`fields`: describe metadata by lower name).

    The delivery worker calls this with the target org's describe, so items enqueued before the
    mapping could be checked (org unreachable at start) still get picklist values, whole numbers
    and lengths right. Fields the org lacks are dropped with a warning rather than failing the
    record; `$ref`/`$lookup` placeholders pass through.
    """
    out: dict[str, Any] = {}
    for name, value in payload.items():
        if isinstance(value, dict) and ("$ref" in value or "$lookup" in value):
            out[name] = value
            continue
        meta = fields.get(name.lower())
        if meta is None:
            log.warning("%s has no field %s in this org; the field is not sent", obj, name)
            continue
        fitted = _fit(obj, name, value, meta)
        if fitted is not None:
            out[name] = fitted
    return out


def _fit(obj: str, name: str, value: Any, meta: dict[str, Any] | None) -> Any:
    if meta is None or value is None:
        return value
    kind = meta.get("type")
    if kind == "int" and isinstance(value, int | float):
        return int(round(value))
    if kind == "double" and isinstance(value, int | float):
        return float(value)
    if kind == "picklist" and meta.get("picklistValues"):
        allowed = [p["value"] for p in meta["picklistValues"] if p.get("active", True)]
        if value in allowed:
            return value
        by_normal = {_normal(v): v for v in allowed}
        if _normal(str(value)) in by_normal:  # "book_demo" → "BookDemo"
            return by_normal[_normal(str(value))]
        if meta.get("restrictedPicklist"):
            # A value the org would reject (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST) would kill
            # the whole record; "Unknown" (when the picklist has it) keeps the call.
            fallback = by_normal.get("unknown")
            log.info("%s.%s: %r is not a picklist value; using %r", obj, name, value, fallback)
            return fallback
        return value
    if (
        isinstance(value, str)
        and meta.get("length")
        and kind in ("string", "textarea", "url", "phone")
    ):
        return value[: int(meta["length"])]
    return value
