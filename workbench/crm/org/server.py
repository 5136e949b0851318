"""The local org's HTTP server: Salesforce REST routes over `Records`, plus admin routes.

All handlers run on one asyncio loop and touch SQLite synchronously, so writes are serialized.
The contract is reference/salesforce.md §11; `build_app` wires the routes, `OrgState` holds the
org (store, token, faults, counters, query cursors).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import re
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from urllib.parse import unquote

from aiohttp import web

from workbench.crm.org import soql
from workbench.crm.org.errors import ApiError, MultipleMatches, json_parser_error, not_found
from workbench.crm.org.faults import FAULT_RESPONSES, FaultInjector, FaultSpec, parse_fault_spec
from workbench.crm.org.ids import make_id, normalize_id
from workbench.crm.org.records import Records, record_url
from workbench.crm.org.schema import OBJECTS, find_object, object_for_id
from workbench.errors import ConfigError

log = logging.getLogger(__name__)

JSON_TYPE = "application/json;charset=UTF-8"
DEFAULT_DAILY_MAX = 15000
MAX_COLLECTION = 200
MAX_CURSORS = 200
_VERSION = re.compile(r"^v(\d+\.\d)$")
VERSIONS = ("58.0", "59.0", "60.0", "61.0", "62.0", "63.0", "64.0", "65.0", "66.0")
ORG_ID = make_id("00D", 1)
ROUTE = web.RequestKey("route", str)  # fault route class, for counters
DROPPED = web.RequestKey("dropped", bool)
USER_ID = make_id("005", 1)


@dataclass
class OrgState:
    """Everything the handlers share; lives on the server loop's thread."""

    records: Records
    token: str
    instance_url: str = ""
    spec: FaultSpec = field(default_factory=FaultSpec)
    injector: FaultInjector = field(default_factory=lambda: FaultInjector(FaultSpec()))
    counts: Counter = field(default_factory=Counter)
    api_used: int = 0
    budget_used: int = 0
    cursors: OrderedDict = field(default_factory=OrderedDict)
    new_event: asyncio.Event | None = None

    def set_faults(self, spec: str | None) -> FaultSpec:
        parsed = parse_fault_spec(spec)
        self.spec = parsed
        self.injector = FaultInjector(parsed)
        self.budget_used = 0  # a budget counts from when it was set
        return parsed

    def usage(self) -> tuple[int, int]:
        if self.spec.budget is not None:
            return self.budget_used, self.spec.budget
        return self.api_used, DEFAULT_DAILY_MAX

    def notify_event(self) -> None:
        if self.new_event is not None:
            self.new_event.set()
        self.new_event = asyncio.Event()


# ---------------------------------------------------------------------- responses


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", charset="UTF-8"
    )


def error_response(error: ApiError) -> web.Response:
    if isinstance(error, MultipleMatches):
        return json_response(error.urls, 300)
    return json_response(error.body(), error.status)


def _unauthorized() -> web.Response:
    return json_response(
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401
    )


def _authorized(request: web.Request, state: OrgState) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() in ("bearer", "oauth") and hmac.compare_digest(token.strip(), state.token)


async def _body(request: web.Request) -> object:
    raw = await request.text()
    if not raw.strip():
        raise json_parser_error("The request body is empty; a JSON object was expected")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise json_parser_error(
            f"Unexpected character in JSON body: {error.msg} at [line:{error.lineno}, column:{error.colno}]"
        ) from None


# ---------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Route:
    version: str
    parts: list[str]  # decoded path segments after /services/data/vXX.X
    kind: str  # fault route class
    object_name: str | None


def _segments(request: web.Request) -> list[str]:
    raw = request.rel_url.raw_path
    parts = [unquote(p) for p in raw.split("/")]
    while parts and parts[-1] == "":
        parts.pop()  # optional trailing slash
    return parts


def _classify(method: str, parts: list[str]) -> tuple[str, str | None]:
    if not parts:
        return "describe", None
    head = parts[0]
    if head == "sobjects":
        if len(parts) == 1:
            return "describe", None
        name = parts[1]
        obj = find_object(name)
        if obj is not None and obj.is_event and method == "POST" and len(parts) == 2:
            return "event", obj.name
        if len(parts) == 3 and parts[2] == "describe" or len(parts) == 2 and method == "GET":
            return "describe", name
        if len(parts) == 4 and method == "PATCH":
            return "upsert", name
        return "sobject", name
    if head in ("query", "queryAll"):
        return "query", None
    if head == "composite":
        return "composite", parts[2] if len(parts) > 2 else None
    if head == "limits":
        return "limits", None
    return "describe", None


def _method_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )


class OrgApi:
    """The REST handlers; `dispatch` routes everything under /services/data/vXX.X/."""

    def __init__(self, state: OrgState) -> None:
        self.state = state
        self.records = state.records
        self.store = state.records.store

    # -------------------------------------------------------------- entry points

    async def api(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        parts = _segments(request)[3:]  # drop "", "services", "data"
        match = _VERSION.match(parts[0]) if parts else None
        if match is None:
            raise not_found()
        version, parts = match.group(1), parts[1:]
        if not _authorized(request, state):
            return _unauthorized()
        kind, object_name = _classify(request.method, parts)
        request[ROUTE] = kind
        state.api_used += 1
        if state.spec.budget is not None:
            if state.budget_used >= state.spec.budget:
                status, code, message = FAULT_RESPONSES["limit"]
                raise ApiError(status, code, message)
            state.budget_used += 1
        delay = state.injector.latency_seconds(kind, object_name)
        if delay:
            await asyncio.sleep(delay)
        fault = state.injector.draw(kind, object_name)
        if fault == "drop":
            return _drop(request)
        if fault in FAULT_RESPONSES:
            status, code, message = FAULT_RESPONSES[fault]
            raise ApiError(status, code, message)
        response = await self.dispatch(request, Route(version, parts, kind, object_name))
        if fault == "dropafter":
            return _drop(request)
        return response

    async def dispatch(self, request: web.Request, route: Route) -> web.StreamResponse:
        method, parts, version = request.method, route.parts, route.version
        if not parts:
            if method != "GET":
                raise _method_not_allowed(method, "GET")
            base = f"/services/data/v{version}"
            return json_response(
                {
                    name: f"{base}/{name}"
                    for name in ("sobjects", "query", "queryAll", "limits", "composite")
                }
            )
        head = parts[0]
        if head == "sobjects":
            return await self.sobjects(request, version, parts[1:])
        if head in ("query", "queryAll"):
            if method != "GET":
                raise _method_not_allowed(method, "GET")
            if len(parts) == 2:
                return self.next_page(parts[1])
            if len(parts) != 1:
                raise not_found()
            return self.query(request, version, include_deleted=head == "queryAll")
        if head == "composite":
            return await self.composite(request, version, parts[1:])
        if head == "limits" and len(parts) == 1:
            used, maximum = self.state.usage()
            return json_response(
                {
                    "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
                    "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
                    "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
                    "HourlyPublishedPlatformEvents": {"Max": 250000, "Remaining": 250000},
                    "DataStorageMB": {"Max": 1024, "Remaining": 1000},
                }
            )
        raise not_found()

    # -------------------------------------------------------------- sObjects

    async def sobjects(self, request: web.Request, version: str, parts: list[str]) -> web.Response:
        method, records = request.method, self.records
        if not parts:
            if method != "GET":
                raise _method_not_allowed(method, "GET")
            return json_response(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": MAX_COLLECTION,
                    "sobjects": [self._basic(obj, version) for obj in OBJECTS.values()],
                }
            )
        obj = records.object(parts[0])
        if len(parts) == 1:
            if method == "GET":
                return json_response(
                    {"objectDescribe": self._basic(obj, version), "recentItems": []}
                )
            if method != "POST":
                raise _method_not_allowed(method, "GET,POST")
            body = await _body(request)
            if obj.is_event:
                with self.store.transaction():
                    event_id, event_uuid, _ = records.publish(obj, body)
                self.state.notify_event()
                return json_response(
                    {
                        "id": event_id,
                        "success": True,
                        "errors": [
                            {
                                "statusCode": "OPERATION_ENQUEUED",
                                "message": event_uuid,
                                "fields": [],
                            }
                        ],
                    },
                    201,
                )
            with self.store.transaction():
                record_id = records.create(obj, body)
            return json_response({"id": record_id, "success": True, "errors": []}, 201)
        if len(parts) == 2 and parts[1] == "describe":
            if method != "GET":
                raise _method_not_allowed(method, "GET")
            describe = self._basic(obj, version)
            describe["fields"] = [f.describe() for f in obj.fields]
            return json_response(describe)
        if obj.is_event:
            raise ApiError(
                405 if len(parts) == 2 else 400,
                "METHOD_NOT_ALLOWED" if len(parts) == 2 else "INVALID_OPERATION",
                f"Platform events ({obj.name}) can only be published; they cannot be retrieved, "
                "updated, upserted or deleted",
            )
        if len(parts) == 2:
            return await self.by_id(request, version, obj, parts[1])
        if len(parts) == 3:
            return await self.by_external_id(request, version, obj, parts[1], parts[2])
        raise not_found()

    def _basic(self, obj, version: str) -> dict:  # noqa: ANN001
        info = obj.describe_basic()
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        info["urls"] = {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        }
        return info

    async def by_id(self, request: web.Request, version: str, obj, value: str) -> web.Response:  # noqa: ANN001
        records, method = self.records, request.method
        if method == "GET":
            record_id, data = records.load(obj, value)
            fields = request.query.get("fields")
            names = [n.strip() for n in fields.split(",") if n.strip()] if fields else None
            return json_response(records.render(obj, data, version, names))
        if method == "PATCH":
            body = await _body(request)
            with self.store.transaction():
                records.update(obj, value, body)
            return web.Response(status=204)
        if method == "DELETE":
            with self.store.transaction():
                records.delete(obj, value)
            return web.Response(status=204)
        raise _method_not_allowed(method, "GET,PATCH,DELETE")

    async def by_external_id(
        self,
        request: web.Request,
        version: str,
        obj,
        field_name: str,
        value: str,  # noqa: ANN001
    ) -> web.Response:
        records, method = self.records, request.method
        if method == "GET":
            record_id = records.get_by_external(obj, field_name, value, version)
            found = self.store.get(record_id)
            assert found is not None
            return json_response(records.render(obj, found[1], version))
        if method == "PATCH":
            body = await _body(request)
            update_only = request.query.get("updateOnly", "").lower() == "true"
            with self.store.transaction():
                record_id, created = records.upsert(
                    obj, field_name, value, body, version, update_only=update_only
                )
            if created:
                return json_response(
                    {"id": record_id, "success": True, "errors": [], "created": True}, 201
                )
            if float(version) < 46.0:
                return web.Response(status=204)
            return json_response({"id": record_id, "success": True, "errors": [], "created": False})
        if method == "DELETE":
            record_id = records.get_by_external(obj, field_name, value, version)
            with self.store.transaction():
                records.delete(obj, record_id)
            return web.Response(status=204)
        raise _method_not_allowed(method, "GET,PATCH,DELETE")

    # -------------------------------------------------------------- query

    def _lookup(self):  # noqa: ANN202
        cache: dict[str, dict | None] = {}

        def lookup(record_id: str) -> dict | None:
            if record_id not in cache:
                found = self.store.get(record_id)
                cache[record_id] = (
                    None if found is None or found[2] else {**found[1], "__type": found[0]}
                )
            return cache[record_id]

        return lookup

    def query(self, request: web.Request, version: str, *, include_deleted: bool) -> web.Response:
        text = request.query.get("q")
        if text is None:
            raise ApiError(400, "MALFORMED_QUERY", "The q parameter (a SOQL query) is missing")
        parsed = soql.parse(text)
        lookup = self._lookup()
        rows = self.store.rows(parsed.obj.name, include_deleted=include_deleted)
        selected = soql.execute(parsed, rows, lookup)
        if parsed.count_only:
            return json_response({"totalSize": len(selected), "done": True, "records": []})

        def url(type_: str, record_id: str) -> str:
            return record_url(version, type_, record_id)

        projected = [soql.project(parsed, row, lookup, url) for row in selected]
        batch = _batch_size(request.headers.get("Sforce-Query-Options", ""))
        state = self.state
        locator = make_id("01g", self.store.next_number("query-locator"))
        if len(projected) > batch:
            state.cursors[locator] = (
                version,
                projected,
                batch,
                "queryAll" if include_deleted else "query",
            )
            while len(state.cursors) > MAX_CURSORS:
                state.cursors.popitem(last=False)
        return self._page(
            locator, version, projected, 0, batch, "queryAll" if include_deleted else "query"
        )

    def _page(
        self, locator: str, version: str, rows: list[dict], offset: int, batch: int, head: str
    ) -> web.Response:
        page = rows[offset : offset + batch]
        body: dict = {"totalSize": len(rows), "done": offset + batch >= len(rows), "records": page}
        if not body["done"]:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{head}/{locator}-{offset + batch}"
        return json_response(body)

    def next_page(self, cursor: str) -> web.Response:
        locator, _, offset_text = cursor.rpartition("-")
        entry = self.state.cursors.get(locator)
        if entry is None or not offset_text.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", f"invalid query locator: {cursor}")
        version, rows, batch, head = entry
        return self._page(locator, version, rows, int(offset_text), batch, head)

    # -------------------------------------------------------------- collections

    async def composite(self, request: web.Request, version: str, parts: list[str]) -> web.Response:
        method = request.method
        if not parts or parts[0] != "sobjects":
            raise not_found("The local org supports /composite/sobjects only")
        rest = parts[1:]
        if not rest:
            if method == "POST":
                body = await _body(request)
                return self._collection(version, body, "create")
            if method == "PATCH":
                body = await _body(request)
                return self._collection(version, body, "update")
            if method == "DELETE":
                return self._collection_delete(request)
            raise _method_not_allowed(method, "POST,PATCH,DELETE")
        obj = self.records.object(rest[0])
        if len(rest) == 1 and method == "GET":
            ids = [i for i in request.query.get("ids", "").split(",") if i]
            fields = [f for f in request.query.get("fields", "").split(",") if f] or None
            out = []
            for value in ids:
                try:
                    _, data = self.records.load(obj, value)
                    out.append(self.records.render(obj, data, version, fields))
                except ApiError as error:
                    if error.status != 404:
                        raise
                    out.append(None)
            return json_response(out)
        if len(rest) == 2 and method == "PATCH":
            body = await _body(request)
            return self._collection(version, body, "upsert", obj=obj, field_name=rest[1])
        raise not_found()

    def _collection(
        self, version: str, body: object, mode: str, *, obj=None, field_name: str = ""
    ) -> web.Response:  # noqa: ANN001
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
            ext_field = self.records.external_field(obj, field_name)
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
                target = self.records.object(type_name)
            fields = {k: v for k, v in item.items() if k != "attributes"}
            if mode == "create":
                if target.is_event:
                    event_id, event_uuid, _ = self.records.publish(target, fields)
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
                return {"id": self.records.create(target, fields), "success": True, "errors": []}
            if mode == "update":
                record_id = fields.pop("id", None) or fields.pop("Id", None)
                if not record_id:
                    raise ApiError(
                        400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"]
                    )
                return {
                    "id": self.records.update(target, str(record_id), fields),
                    "success": True,
                    "errors": [],
                }
            value = next(
                (v for k, v in fields.items() if k.lower() == ext_field.name.lower()), None
            )
            if value is None:
                raise ApiError(
                    400, "MISSING_ARGUMENT", f"{ext_field.name} not specified", [ext_field.name]
                )
            fields = {k: v for k, v in fields.items() if k.lower() != ext_field.name.lower()}
            record_id, created = self.records.upsert(
                target, ext_field.name, str(value), fields, version
            )
            return {"id": record_id, "success": True, "errors": [], "created": created}

        results: list[dict] = []
        failed = False
        try:
            with self.store.transaction():
                for item in items:
                    try:
                        with self.store.transaction():
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
            rolled_back = {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the "
                "request was using AllOrNone header",
                "fields": [],
            }
            for result in results:
                if result["success"]:
                    result.update(id=None, success=False, errors=[rolled_back])
        if published:
            self.state.notify_event()
        return json_response(results)

    def _collection_delete(self, request: web.Request) -> web.Response:
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
            with self.store.transaction():
                for value in ids:
                    try:
                        record_id = normalize_id(value)
                        obj = object_for_id(record_id) if record_id else None
                        if record_id is None:
                            raise ApiError(400, "MALFORMED_ID", f"malformed id {value}", ["Id"])
                        if obj is None:
                            raise ApiError(404, "INVALID_ID_FIELD", f"invalid record id {value}")
                        with self.store.transaction():
                            self.records.delete(obj, record_id)
                        results.append({"id": record_id, "success": True, "errors": []})
                    except ApiError as error:
                        failed = True
                        results.append(
                            {"id": value, "success": False, "errors": [error.item_error()]}
                        )
                if failed and all_or_none:
                    raise _RollBack()
        except _RollBack:
            for result in results:
                if result["success"]:
                    result.update(
                        success=False,
                        errors=[
                            {
                                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "message": "Record rolled back because not all records were valid and the "
                                "request was using AllOrNone header",
                                "fields": [],
                            }
                        ],
                    )
        return json_response(results)


class _RollBack(Exception):
    """Raised inside a collection's transaction to undo it (allOrNone)."""


def _batch_size(header: str) -> int:
    match = re.search(r"batchSize\s*=\s*(\d+)", header)
    if not match:
        return 2000
    return max(200, min(2000, int(match.group(1))))


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees a dropped connection)."""
    request[DROPPED] = True
    if request.transport is not None:
        request.transport.close()
    # aiohttp fails to write this to the closed transport and treats it as a client disconnect.
    return web.Response(status=499)


# ---------------------------------------------------------------------- other routes


def _versions() -> list[dict]:
    return [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]


async def _versions_handler(request: web.Request) -> web.Response:
    return json_response(_versions())


def _oauth_handler(state: OrgState):  # noqa: ANN202
    async def handler(request: web.Request) -> web.Response:
        form = await request.post()
        grant = form.get("grant_type", "")
        if grant not in (
            "password",
            "client_credentials",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ):
            return json_response(
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
                400,
            )
        issued = str(int(time.time() * 1000))
        identity = f"{state.instance_url}/id/{ORG_ID}/{USER_ID}"
        signature = base64.b64encode(
            hmac.new(state.token.encode(), (identity + issued).encode(), hashlib.sha256).digest()
        ).decode()
        return json_response(
            {
                "access_token": state.token,
                "instance_url": state.instance_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued,
                "signature": signature,
            }
        )

    return handler


def _soap_login_handler(state: OrgState):  # noqa: ANN202
    async def handler(request: web.Request) -> web.Response:
        version = request.match_info["version"]
        server = f"{state.instance_url}/services/Soap/u/{version}/{ORG_ID[:15]}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
            f"<metadataServerUrl>{state.instance_url}/services/Soap/m/{version}/{ORG_ID[:15]}"
            "</metadataServerUrl><passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{server}</serverUrl><sessionId>{state.token}</sessionId>"
            f"<userId>{USER_ID}</userId><userInfo><organizationId>{ORG_ID}</organizationId>"
            "<userName>agent@local.org</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return web.Response(text=xml, content_type="text/xml", charset="UTF-8")

    return handler


def _admin_routes(state: OrgState) -> list[web.RouteDef]:
    def guard(request: web.Request) -> None:
        if not _authorized(request, state):
            raise _AdminAuth()

    async def get_faults(request: web.Request) -> web.Response:
        guard(request)
        return json_response({"spec": str(state.spec)})

    async def post_faults(request: web.Request) -> web.Response:
        guard(request)
        body = await _body(request)
        spec = body.get("spec") if isinstance(body, dict) else None
        if spec is not None and not isinstance(spec, str):
            raise ApiError(400, "BAD_FAULT_SPEC", "spec must be a string")
        try:
            parsed = state.set_faults(spec)
        except ConfigError as error:
            raise ApiError(400, "BAD_FAULT_SPEC", str(error)) from None
        log.info("local org faults set to %r", str(parsed))
        return json_response({"spec": str(parsed)})

    async def events(request: web.Request) -> web.Response:
        guard(request)
        try:
            after = int(request.query.get("after", "0"))
            timeout = min(60.0, float(request.query.get("timeout", "0")))
        except ValueError:
            raise ApiError(
                400, "INVALID_QUERY_FILTER_OPERATOR", "after and timeout must be numbers"
            ) from None
        store = state.records.store
        found = store.events_after(after)
        if not found and timeout > 0:
            if state.new_event is None:
                state.new_event = asyncio.Event()
            waiter = state.new_event
            try:
                await asyncio.wait_for(waiter.wait(), timeout)
            except TimeoutError:
                pass
            found = store.events_after(after)
        return json_response({"events": found, "lastReplayId": store.last_replay_id()})

    async def requests_(request: web.Request) -> web.Response:
        guard(request)
        used, maximum = state.usage()
        return json_response(
            {"counts": dict(sorted(state.counts.items())), "apiUsage": used, "apiMax": maximum}
        )

    return [
        web.get("/__admin/faults", get_faults),
        web.post("/__admin/faults", post_faults),
        web.get("/__admin/events", events),
        web.get("/__admin/requests", requests_),
    ]


class _AdminAuth(Exception):
    pass


def build_app(state: OrgState) -> web.Application:
    """The aiohttp application serving the org described by `state`."""
    api = OrgApi(state)

    @web.middleware
    async def envelope(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001
        try:
            response = await handler(request)
        except ApiError as error:
            response = error_response(error)
        except _AdminAuth:
            response = _unauthorized()
        except web.HTTPMethodNotAllowed as error:
            response = error_response(
                _method_not_allowed(request.method, ",".join(sorted(error.allowed_methods)))
            )
        except web.HTTPNotFound:
            response = error_response(not_found())
        except Exception:
            log.exception("local org: internal error on %s %s", request.method, request.path)
            response = error_response(
                ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred in the local org")
            )
        if request.get(DROPPED):
            state.counts[f"{request.get(ROUTE, 'other')} dropped"] += 1
            return response
        if response.content_type != "text/xml":
            response.headers["Content-Type"] = JSON_TYPE
        used, maximum = state.usage()
        response.headers["Sforce-Limit-Info"] = f"api-usage={used}/{maximum}"
        route = request.get(ROUTE) or _admin_or_other(request.path)
        state.counts[f"{route} {response.status}"] += 1
        return response

    app = web.Application(middlewares=[envelope], client_max_size=64 * 1024 * 1024)
    app.add_routes(
        [
            web.get("/services/data", _versions_handler),
            web.get("/services/data/", _versions_handler),
            web.route("*", "/services/data/{tail:.+}", api.api),
            web.post("/services/oauth2/token", _oauth_handler(state)),
            web.post("/services/Soap/u/{version}", _soap_login_handler(state)),
            web.post("/services/Soap/u/{version}/", _soap_login_handler(state)),
            *_admin_routes(state),
        ]
    )
    return app


def _admin_or_other(path: str) -> str:
    if path.startswith("/__admin"):
        return "admin"
    if path.startswith("/services/oauth2") or path.startswith("/services/Soap"):
        return "login"
    if path.rstrip("/") == "/services/data":
        return "versions"
    return "other"
