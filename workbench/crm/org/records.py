"""Record operations with Salesforce semantics: create, get, update, delete, upsert, publish.

Every method validates like a real org (unknown or read-only fields, types, picklists, lengths,
required fields, unique external ids, references) and raises `ApiError` with the real error
codes. The caller (the HTTP layer) owns transactions.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

from workbench.crm.org.errors import (
    ApiError,
    MultipleMatches,
    invalid_type,
    json_parser_error,
    malformed_id,
    not_found,
)
from workbench.crm.org.ids import make_id, normalize_id
from workbench.crm.org.schema import (
    NUMBER_TYPES,
    STRING_TYPES,
    FieldDef,
    ObjectDef,
    find_object,
    object_for_id,
)
from workbench.crm.org.store import Store


def format_datetime(moment: datetime) -> str:
    """Salesforce's datetime form: 2013-05-20T20:49:32.000+0000 (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    """An aware datetime from ISO-8601 input (Z, +00:00, +0000, or naive = UTC), or None."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def record_url(version: str, type_: str, record_id: str) -> str:
    return f"/services/data/v{version}/sobjects/{type_}/{record_id}"


class Records:
    """The org's record operations over a `Store`."""

    def __init__(self, store: Store, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.clock = clock

    # ----------------------------------------------------------------- lookups

    def object(self, name: str) -> ObjectDef:
        obj = find_object(name)
        if obj is None:
            raise invalid_type(name)
        return obj

    def resolve_id(self, obj: ObjectDef, value: str) -> str:
        """The canonical id of a live record of `obj`; MALFORMED_ID / NOT_FOUND otherwise."""
        record_id = normalize_id(value)
        if record_id is None:
            raise malformed_id(value)
        if record_id[:3] != obj.key_prefix:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {value}"
            )
        found = self.store.get(record_id)
        if found is None:
            raise not_found()
        if found[2]:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted")
        return record_id

    def load(self, obj: ObjectDef, value: str) -> tuple[str, dict]:
        record_id = self.resolve_id(obj, value)
        found = self.store.get(record_id)
        assert found is not None
        return record_id, found[1]

    def render(
        self, obj: ObjectDef, data: dict, version: str, fields: list[str] | None = None
    ) -> dict:
        """A record as the REST API returns it: attributes first, then fields in schema order."""
        out: dict = {
            "attributes": {"type": obj.name, "url": record_url(version, obj.name, data["Id"])}
        }
        if fields:
            chosen = []
            for name in fields:
                f = obj.field(name)
                if f is None:
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{obj.name}'.",
                        [name],
                    )
                chosen.append(f)
        else:
            chosen = list(obj.fields)
        for f in chosen:
            out[f.name] = data.get(f.name, False if f.type == "boolean" else None)
        return out

    # ----------------------------------------------------------------- validation

    def _coerce(self, obj: ObjectDef, f: FieldDef, value: object) -> object:
        """The stored form of `value` for field `f`; raises the Salesforce error for bad input."""
        if value is None:
            if f.type == "boolean":
                return False
            if not f.nillable:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{f.name}]",
                    [f.name],
                )
            return None
        if isinstance(value, (dict, list)):
            kind = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
            raise json_parser_error(
                f"Cannot deserialize instance of {f.type} from {kind} value for field {f.name}"
            )
        if f.type in STRING_TYPES:
            text = value if isinstance(value, str) else _json_scalar_text(value)
            if f.type == "reference":
                return self._reference(obj, f, text)
            if f.length and len(text) > f.length:
                raise ApiError(
                    400,
                    "STRING_TOO_LONG",
                    f"{f.label}: data value too large: {text[:40]!r}... (max length={f.length})",
                    [f.name],
                )
            if f.type == "picklist" and f.restricted_picklist and text not in f.picklist_values:
                raise ApiError(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{f.label}: bad value for restricted picklist field: {text}",
                    [f.name],
                )
            return text
        if f.type == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise json_parser_error(
                f"Cannot deserialize instance of boolean from VALUE_STRING value {value} "
                f"for field {f.name}"
            )
        if f.type in NUMBER_TYPES:
            number = _number(value)
            if number is None:
                raise json_parser_error(
                    f"Cannot deserialize instance of {f.type} from VALUE_STRING value {value} "
                    f"or request may be missing a required field (field {f.name})"
                )
            if f.type == "int":
                if number != int(number):
                    raise ApiError(
                        400,
                        "INVALID_TYPE_ON_FIELD_IN_RECORD",
                        f"{f.label}: value not of required type: {value}",
                        [f.name],
                    )
                return int(number)
            return number
        if f.type == "datetime":
            moment = parse_datetime(value) if isinstance(value, str) else None
            if moment is None:
                raise json_parser_error(
                    f"Cannot deserialize instance of datetime from VALUE_STRING value {value} "
                    f"or request may be missing a required field (field {f.name})"
                )
            return format_datetime(moment)
        if f.type == "date":
            try:
                return date.fromisoformat(str(value)[:10]).isoformat()
            except ValueError:
                raise json_parser_error(
                    f"Cannot deserialize instance of date from VALUE_STRING value {value} "
                    f"(field {f.name})"
                ) from None
        raise AssertionError(f"unknown field type {f.type}")

    def _reference(self, obj: ObjectDef, f: FieldDef, text: str) -> str:
        record_id = normalize_id(text)
        if record_id is None:
            raise malformed_id(text, f.name)
        target = object_for_id(record_id)
        found = self.store.get(record_id)
        if target is None or target.name not in f.reference_to or found is None or found[2]:
            raise ApiError(
                400,
                "INVALID_CROSS_REFERENCE_KEY",
                f"{f.label}: id value of incorrect type: {text}",
                [f.name],
            )
        return record_id

    def _apply_body(self, obj: ObjectDef, body: object, data: dict, *, creating: bool) -> None:
        if not isinstance(body, dict):
            raise json_parser_error("Cannot deserialize instance of sObject from non-object JSON")
        read_only = []
        for key, value in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{key}' on sobject of type {obj.name}",
                    [key],
                )
            if not (f.createable if creating else f.updateable):
                read_only.append(f.name)
                continue
            data[f.name] = self._coerce(obj, f, value)
        if read_only:
            raise ApiError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(read_only)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                read_only,
            )

    def _check_unique(self, obj: ObjectDef, data: dict, own_id: str | None) -> None:
        for f in obj.fields:
            if not f.unique or data.get(f.name) is None:
                continue
            others = [i for i in self.store.find(obj.name, f.name, data[f.name]) if i != own_id]
            if others:
                raise ApiError(
                    400,
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {others[0]}",
                    [f.name],
                )

    @staticmethod
    def _compute(obj: ObjectDef, data: dict) -> None:
        if obj.name in ("Contact", "Lead"):
            data["Name"] = " ".join(p for p in (data.get("FirstName"), data.get("LastName")) if p)

    # ----------------------------------------------------------------- operations

    def create(self, obj: ObjectDef, body: object) -> str:
        """Insert a record and return its 18-character id."""
        if obj.is_event:
            return self.publish(obj, body)[0]
        data: dict = {}
        self._apply_body(obj, body, data, creating=True)
        missing = [f.name for f in obj.fields if f.required and data.get(f.name) is None]
        if missing:
            raise ApiError(
                400,
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for f in obj.fields:
            if f.defaulted_on_create and f.default is not None and data.get(f.name) is None:
                data[f.name] = f.default
        self._check_unique(obj, data, None)
        self._compute(obj, data)
        record_id = make_id(obj.key_prefix, self.store.next_number(f"id:{obj.key_prefix}"))
        if obj.name == "Case":
            data["CaseNumber"] = f"{1000 + self.store.next_number('autonumber:Case'):08d}"
        elif obj.name == "VoiceCall":
            data["Name"] = f"VC-{self.store.next_number('autonumber:VoiceCall'):08d}"
        now = format_datetime(self.clock())
        data.update(
            Id=record_id, IsDeleted=False, CreatedDate=now, LastModifiedDate=now, SystemModstamp=now
        )
        self.store.insert(obj.name, record_id, data)
        return record_id

    def update(self, obj: ObjectDef, value: str, body: object) -> str:
        self._refuse_event(obj)
        record_id, data = self.load(obj, value)
        self._apply_body(obj, body, data, creating=False)
        self._check_unique(obj, data, record_id)
        self._compute(obj, data)
        now = format_datetime(self.clock())
        data.update(LastModifiedDate=now, SystemModstamp=now)
        self.store.update(record_id, data)
        return record_id

    def delete(self, obj: ObjectDef, value: str) -> str:
        self._refuse_event(obj)
        record_id, data = self.load(obj, value)
        now = format_datetime(self.clock())
        data.update(IsDeleted=True, LastModifiedDate=now, SystemModstamp=now)
        self.store.update(record_id, data, is_deleted=True)
        return record_id

    def external_field(self, obj: ObjectDef, name: str) -> FieldDef:
        f = obj.field(name)
        if f is None:
            raise not_found(
                f"Provided external ID field does not exist or is not accessible: {name}"
            )
        if not (f.external_id or f.id_lookup):
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Field {f.name} is not an External ID or indexed field for {obj.name}",
                [f.name],
            )
        return f

    def find_by_external(self, obj: ObjectDef, f: FieldDef, value: str, version: str) -> list[str]:
        """Ids matching an external-id value; `Id` lookups go through `resolve_id`."""
        if f.name == "Id":
            return [self.resolve_id(obj, value)]
        key = self._coerce(obj, f, value)
        return self.store.find(obj.name, f.name, key)

    def get_by_external(self, obj: ObjectDef, field_name: str, value: str, version: str) -> str:
        self._refuse_event(obj)
        f = self.external_field(obj, field_name)
        ids = self.find_by_external(obj, f, value, version)
        if not ids:
            raise not_found()
        if len(ids) > 1:
            raise MultipleMatches([record_url(version, obj.name, i) for i in ids])
        return ids[0]

    def upsert(
        self,
        obj: ObjectDef,
        field_name: str,
        value: str,
        body: object,
        version: str,
        *,
        update_only: bool = False,
    ) -> tuple[str, bool]:
        """Insert or update by external id; returns (id, created)."""
        self._refuse_event(obj)
        f = self.external_field(obj, field_name)
        if not isinstance(body, dict):
            raise json_parser_error("Cannot deserialize instance of sObject from non-object JSON")
        body = {k: v for k, v in body.items() if k != "attributes"}
        for key in list(body):
            if key.lower() == f.name.lower():
                if body[key] is not None and str(body[key]) != value:
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"The value of {f.name} in the body ({body[key]}) differs from the value "
                        f"in the URL ({value})",
                        [f.name],
                    )
                del body[key]
        if f.name == "Id":
            return self.update(obj, value, body), False
        ids = self.find_by_external(obj, f, value, version)
        if len(ids) > 1:
            raise MultipleMatches([record_url(version, obj.name, i) for i in ids])
        if ids:
            return self.update(obj, ids[0], body), False
        if update_only:
            raise not_found(f"No {obj.name} with {f.name} = {value} (updateOnly=true)")
        return self.create(obj, {**body, f.name: value}), True

    def publish(self, obj: ObjectDef, body: object) -> tuple[str, str, dict]:
        """Publish a platform event; returns (id, EventUuid, stored event)."""
        payload: dict = {}
        self._apply_body(obj, body, payload, creating=True)
        event_uuid = str(uuid.uuid4())
        event_id = make_id(obj.key_prefix, self.store.next_number(f"id:{obj.key_prefix}"))
        created = format_datetime(self.clock())
        replay_id = self.store.add_event(obj.name, event_uuid, event_id, created, payload)
        event = {
            "replayId": replay_id,
            "type": obj.name,
            "eventUuid": event_uuid,
            "id": event_id,
            "createdDate": created,
            "payload": payload,
        }
        return event_id, event_uuid, event

    @staticmethod
    def _refuse_event(obj: ObjectDef) -> None:
        if obj.is_event:
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"Platform events ({obj.name}) can only be published (POST); they cannot be "
                "retrieved, updated, upserted or deleted",
            )


def _json_scalar_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None
