"""sObject Collections and Composite requests for the local org (reference §6, §11.8).

Collections (`/composite/sobjects`) run every record inside one SQLite transaction, each record
in its own savepoint; with allOrNone a failure rolls the whole transaction back. Composite
(`/composite`) runs up to 25 subrequests through the ordinary handlers with `@{ref.field}`
substitution.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote

from aiohttp import web

from workbench.crm.org.errors import ApiError, json_parser_error, not_found
from workbench.crm.org.ids import normalize_id
from workbench.crm.org.records import record_url
from workbench.crm.org.rest import (
    VERSION_SEGMENT,
    Route,
    classify,
    error_response,
    json_response,
    read_body,
)
from workbench.crm.org.schema import ObjectDef, object_for_id

if TYPE_CHECKING:
    from workbench.crm.org.api import OrgApi

MAX_COLLECTION = 200
MAX_COMPOSITE = 25
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was "
    "using AllOrNone header",
    "fields": [],
}


def collection(
    api: OrgApi,
    version: str,
    body: object,
    mode: str,
    *,
    obj: ObjectDef | None = None,
    field_name: str = "",
) -> web.Response:
    """POST (create), PATCH (update) or PATCH …/{O}/{ExtField} (upsert) of ≤ 200 records."""
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise json_parser_error("The body must be an object with a records array")
    items = body["records"]
    if len(items) > MAX_COLLECTION:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
        )
    all_or_none = bool(body.get("allOrNone", False))
    if obj is not None:
        ext_field = api.records.external_field(obj, field_name)
    published: list[str] = []

    def one(item: object) -> dict:
        if not isinstance(item, dict):
            raise json_parser_error("Each record must be a JSON object")
        attributes = item.get("attributes") or {}
        type_name = attributes.get("type") if isinstance(attributes, dict) else None
        if obj is not None:
            if type_name and type_name.lower() != obj.name.lower():
                raise ApiError(400, "INVALID_TYPE", f"All records must be of type {obj.name}")
            target = obj
        else:
            if not type_name:
                raise ApiError(400, "INVALID_TYPE", "Each record needs attributes.type")
            target = api.records.object(type_name)
        fields = {k: v for k, v in item.items() if k != "attributes"}
        if mode == "create":
            if target.is_event:
                event_id, event_uuid, _ = api.records.publish(target, fields)
                published.append(event_id)
                return {
                    "id": event_id,
                    "success": True,
                    "errors": [
                        {
                            "statusCode": "OPERATION_ENQUEUED",
                            "message": event_uuid,
                            "fields": [],
                        }
                    ],
                }
            return {"id": api.records.create(target, fields), "success": True, "errors": []}
        if mode == "update":
            record_id = fields.pop("id", None) or fields.pop("Id", None)
            if not record_id:
                raise ApiError(
                    400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                )
            return {
                "id": api.records.update(target, str(record_id), fields),
                "success": True,
                "errors": [],
            }
        value = next((v for k, v in fields.items() if k.lower() == ext_field.name.lower()), None)
        if value is None:
            raise ApiError(
                400, "MISSING_ARGUMENT", f"{ext_field.name} not specified", [ext_field.name]
            )
        fields = {k: v for k, v in fields.items() if k.lower() != ext_field.name.lower()}
        record_id, created = api.records.upsert(target, ext_field.name, str(value), fields, version)
        return {"id": record_id, "success": True, "errors": [], "created": created}

    results: list[dict] = []
    failed = False
    try:
        with api.store.transaction():
            for item in items:
                try:
                    with api.store.transaction():
                        results.append(one(item))
                except ApiError as error:
                    failed = True
                    result = {"id": None, "success": False, "errors": [error.item_error()]}
                    if mode == "upsert":
                        result["created"] = False
                    results.append(result)
            if failed and all_or_none:
                raise _RollBack()
    except _RollBack:
        published.clear()
        for result in results:
            if result["success"]:
                result.update(id=None, success=False, errors=[dict(ROLLED_BACK)])
    if published:
        api.state.notify_event()
    return json_response(results)


def collection_delete(api: OrgApi, request: web.Request) -> web.Response:
    """DELETE /composite/sobjects?ids=a,b[&allOrNone=true]."""
    ids = [i for i in request.query.get("ids", "").split(",") if i]
    if not ids:
        raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required", ["ids"])
    if len(ids) > MAX_COLLECTION:
        raise ApiError(
            400, "EXCEEDED_ID_LIMIT", f"cannot delete more than {MAX_COLLECTION} records"
        )
    all_or_none = request.query.get("allOrNone", "false").lower() == "true"
    results: list[dict] = []
    failed = False
    try:
        with api.store.transaction():
            for value in ids:
                try:
                    record_id = normalize_id(value)
                    obj = object_for_id(record_id) if record_id else None
                    if record_id is None:
                        raise ApiError(400, "MALFORMED_ID", f"malformed id {value}", ["Id"])
                    if obj is None:
                        raise ApiError(404, "INVALID_ID_FIELD", f"invalid record id {value}")
                    with api.store.transaction():
                        api.records.delete(obj, record_id)
                    results.append({"id": record_id, "success": True, "errors": []})
                except ApiError as error:
                    failed = True
                    results.append({"id": value, "success": False, "errors": [error.item_error()]})
            if failed and all_or_none:
                raise _RollBack()
    except _RollBack:
        for result in results:
            if result["success"]:
                result.update(success=False, errors=[dict(ROLLED_BACK)])
    return json_response(results)


async def composite_request(api: OrgApi, request: web.Request, version: str) -> web.Response:
    """POST /composite: ≤ 25 subrequests, `@{ref.field}` references, optional allOrNone."""
    body = await read_body(request)
    subrequests = body.get("compositeRequest") if isinstance(body, dict) else None
    if not isinstance(subrequests, list) or not subrequests:
        raise json_parser_error("The body must be an object with a compositeRequest array")
    if len(subrequests) > MAX_COMPOSITE:
        raise ApiError(
            400,
            "INVALID_BATCH_REQUEST",
            f"Composite requests may contain at most {MAX_COMPOSITE} subrequests",
        )
    all_or_none = bool(body.get("allOrNone", False))
    results: dict[str, object] = {}  # referenceId -> response body
    out: list[dict] = []
    failed_refs: set[str] = set()

    def halted(ref: str, message: str) -> dict:
        return {
            "body": [{"errorCode": "PROCESSING_HALTED", "message": message}],
            "httpHeaders": {},
            "httpStatusCode": 400,
            "referenceId": ref,
        }

    try:
        with api.store.transaction():
            for index, sub in enumerate(subrequests):
                ref = str((sub or {}).get("referenceId") or f"ref{index}")
                if all_or_none and failed_refs:
                    out.append(
                        halted(
                            ref,
                            "The transaction was rolled back since another "
                            "operation in the same transaction failed.",
                        )
                    )
                    continue
                try:
                    text = json.dumps(sub)
                    used = set(_REFERENCE.findall(text))
                    broken = sorted(r for r, _ in used if r in failed_refs or r not in results)
                    if broken:
                        raise ApiError(
                            400,
                            "PROCESSING_HALTED",
                            f"Invalid reference specified. No value for {broken[0]} found",
                        )
                    sub = json.loads(_REFERENCE.sub(lambda m: _resolve(results, m), text))
                    response = await _subrequest(api, sub)
                except ApiError as error:
                    response = error_response(error)
                status = response.status
                payload = json.loads(response.text) if response.text else None
                headers = {}
                if status == 201 and isinstance(payload, dict) and payload.get("id"):
                    created = object_for_id(str(payload["id"]))
                    if created is not None:
                        headers["Location"] = record_url(version, created.name, payload["id"])
                out.append(
                    {
                        "body": payload,
                        "httpHeaders": headers,
                        "httpStatusCode": status,
                        "referenceId": ref,
                    }
                )
                if status >= 300:
                    failed_refs.add(ref)
                else:
                    results[ref] = payload
            if all_or_none and failed_refs:
                raise _RollBack()
    except _RollBack:
        for item in out:
            if item["httpStatusCode"] < 300:
                item.update(
                    halted(
                        item["referenceId"],
                        "The transaction was rolled back since "
                        "another operation in the same transaction failed.",
                    )
                )
    return json_response({"compositeResponse": out})


async def _subrequest(api: OrgApi, sub: object) -> web.Response:
    if not isinstance(sub, dict) or not isinstance(sub.get("url"), str):
        raise ApiError(400, "INVALID_BATCH_REQUEST", "Each subrequest needs method and url")
    fake = _SubRequest(
        str(sub.get("method", "GET")).upper(),
        sub["url"],
        sub.get("body"),
        sub.get("httpHeaders") or {},
    )
    parts = fake.parts
    match = (
        VERSION_SEGMENT.match(parts[3])
        if len(parts) > 3 and parts[:3] == ["", "services", "data"]
        else None
    )
    if match is None:
        raise not_found(f"Subrequest URL must start with /services/data/vXX.X: {sub['url']}")
    rest = parts[4:]
    if rest[:1] == ["composite"] and len(rest) == 1:
        raise ApiError(400, "INVALID_BATCH_REQUEST", "Composite requests cannot be nested")
    kind, object_name = classify(fake.method, rest)
    response = await api.dispatch(fake, Route(match.group(1), rest, kind, object_name))  # type: ignore[arg-type]
    assert isinstance(response, web.Response)
    return response


_REFERENCE = re.compile(r"@\{(\w+)\.([\w.\[\]]+)\}")


def _resolve(results: dict[str, object], match: re.Match[str]) -> str:
    value: object = results.get(match.group(1))
    for step in re.findall(r"\w+|\[\d+\]", match.group(2)):
        if step.startswith("["):
            value = value[int(step[1:-1])] if isinstance(value, list) else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    # The reference sits inside a JSON document: escape it as JSON string content.
    return "" if value is None else json.dumps(str(value))[1:-1]


class _SubRequest:
    """The parts of an `aiohttp.web.Request` the handlers use, for a composite subrequest."""

    def __init__(self, method: str, url: str, body: object, headers: dict) -> None:
        from multidict import CIMultiDict, MultiDict
        from yarl import URL

        self.method = method
        self.rel_url = URL(url)
        self.query = MultiDict(self.rel_url.query)
        self.headers = CIMultiDict(headers)
        self._text = "" if body is None else json.dumps(body)

    @property
    def parts(self) -> list[str]:
        return [unquote(p) for p in self.rel_url.raw_path.rstrip("/").split("/")]

    async def text(self) -> str:
        return self._text


class _RollBack(Exception):
    """Raised inside a collection's transaction to undo it (allOrNone)."""
