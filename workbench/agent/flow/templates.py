"""Templates in agent.yaml: the values a reply, a CRM field or a webhook reply can name.

`{name}` and `{name_spoken}` for slots, `{caller.phone}`, `{call.date}`, `{booking.reference}`
(a webhook's or a lookup's reply); a missing value renders as its placeholder rather than
raising. Apart from the rooms because every one of them renders templates the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any

from workbench.agent.conversation import Conversation
from workbench.agent.definition import FieldChoice, TopicSpec
from workbench.agent.speakable import (
    speak_datetime,
    spoken_reference,
    spoken_value,
    subject_line,
)

# A time picked from a schedule ("2026-05-12T14:00").
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


class Fields:
    """Attribute access for templates: `{booking.reference}` reads `reply["reference"]`."""

    def __init__(self, name: str, values: dict[str, Any]) -> None:
        self._name = name
        self._values = values

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        value = self._values.get(key)
        if value is None:
            return "{" + f"{self._name}.{key}" + "}"
        if isinstance(value, dict):
            return Fields(f"{self._name}.{key}", value)
        return value

    def __format__(self, spec: str) -> str:
        return json.dumps(self._values)


class Values(dict):
    """Template values; a missing one renders visibly instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, values: dict[str, Any]) -> str:
    """`template` with `values` filled in; a template that cannot be filled is said as is."""
    try:
        return template.format_map(values if isinstance(values, Values) else Values(values))
    except (AttributeError, IndexError, ValueError, KeyError):
        return template


def field_value(value: object, values: dict) -> object:
    """A declared CRM field's value: a template rendered, a choice made, a constant as is."""
    if isinstance(value, FieldChoice):
        return value.values.get(render(value.from_, values), value.default)
    return render(value, values) if isinstance(value, str) else value


def template_values(conv: Conversation, topic: TopicSpec, company: str) -> Values:
    """Template values: the topic's slots (`{x}` and `{x_spoken}`), times picked from a
    schedule, webhook replies (`{save_as.field}`), `{caller.phone}`, `{call.date}`."""
    values = Values(company=company)
    for name, value in conv.captured.items():
        if name in ("card_last4", "payment_token"):
            continue
        values[name] = value
        values[f"{name}_spoken"] = value
        if ISO_TIME.match(value):  # a time picked from a schedule
            values[f"{name}_spoken"] = speak_datetime(value)
            values[f"{name}_date"], values[f"{name}_time"] = value[:10], value[11:]
    for slot in topic.slots:
        value = conv.captured.get(slot.name)
        if value is None:
            continue
        values[f"{slot.name}_spoken"] = spoken_value(slot, value)
        if slot.entity == "person_name":  # the CRM's FirstName / LastName
            first, _, last = value.partition(" ")
            values[f"{slot.name}_first"], values[f"{slot.name}_last"] = (
                (first, last) if last else ("", first)
            )
        elif slot.entity == "text":  # a subject line
            values[f"{slot.name}_short"] = subject_line(value)
    for name in conv.references & conv.captured.keys():
        values[f"{name}_spoken"] = spoken_reference(conv.captured[name])
    values["caller_name"] = conv.captured.get("name", "").split(" ")[0] or (
        conv.caller.name if conv.caller and conv.caller.name else ""
    )
    caller = conv.caller
    values["caller"] = Fields(
        "caller",
        {
            "phone": caller.phone if caller else "",
            "name": (caller.name if caller else None) or conv.captured.get("name", ""),
            "account": (caller.account if caller else None) or "",
            "vip": "true" if caller and caller.vip else "false",
        },
    )
    values["call"] = Fields(
        "call",
        {
            "date": conv.reference.date().isoformat(),
            "time": conv.reference.strftime("%H:%M"),
            "topic": conv.topic or "",
            "transcript": conv.transcript(),
        },
    )
    for name, reply in conv.results.items():
        values[name] = Fields(name, reply)
    return values
