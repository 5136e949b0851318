"""The Salesforce REST handlers of the local org: sObjects, describe, query, limits.

`OrgApi.api` is the entry point for everything under /services/data/vXX.X/: it checks the
token, counts API usage, applies the fault spec, then `dispatch` routes by path.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from workbench.crm.org import composite, soql
from workbench.crm.org.errors import ApiError, not_found
from workbench.crm.org.faults import FAULT_RESPONSES
from workbench.crm.org.ids import make_id
from workbench.crm.org.records import format_datetime, parse_datetime, record_url
from workbench.crm.org.rest import (
    ROUTE,
    VERSION_SEGMENT,
    Route,
    authorized,
    batch_size,
    classify,
    drop_connection,
    json_response,
    method_not_allowed,
    read_body,
    segments,
    unauthorized,
)
from workbench.crm.org.schema import OBJECTS, ObjectDef
from workbench.crm.org.state import OrgState
from workbench.crm.org.store import lookup_fields

MAX_CURSORS = 200
INDEXED_FIELDS = frozenset(lookup_fields())


class OrgApi:
    """The REST handlers; `dispatch` routes everything under /services/data/vXX.X/."""

    def __init__(self, state: OrgState) -> None:
        self.state = state
        self.records = state.records
        self.store = state.records.store

    # -------------------------------------------------------------- entry points

    async def api(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        parts = segments(request)[3:]  # drop "", "services", "data"
        match = VERSION_SEGMENT.match(parts[0]) if parts else None
        if match is None:
            raise not_found()
        version, parts = match.group(1), parts[1:]
        if not authorized(request, state.token):
            return unauthorized()
        kind, object_name = classify(request.method, parts)
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
            return drop_connection(request)
        if fault in FAULT_RESPONSES:
            status, code, message = FAULT_RESPONSES[fault]
            raise ApiError(status, code, message)
        response = await self.dispatch(request, Route(version, parts, kind, object_name))
        if fault == "dropafter":
            return drop_connection(request)
        return response

    async def dispatch(self, request: web.Request, route: Route) -> web.StreamResponse:
        method, parts, version = request.method, route.parts, route.version
        if not parts:
            if method != "GET":
                raise method_not_allowed(method, "GET")
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
                raise method_not_allowed(method, "GET")
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
                raise method_not_allowed(method, "GET")
            return json_response(
                {
                    "encoding": "UTF-8",
                    "maxBatchSize": composite.MAX_COLLECTION,
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
                raise method_not_allowed(method, "GET,POST")
            body = await read_body(request)
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
                raise method_not_allowed(method, "GET")
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
        if len(parts) == 2 and parts[1] in ("deleted", "updated") and method == "GET":
            return self.changed(request, obj, parts[1])
        if len(parts) == 2:
            return await self.by_id(request, version, obj, parts[1])
        if len(parts) == 3:
            return await self.by_external_id(request, version, obj, parts[1], parts[2])
        raise not_found()

    def changed(self, request: web.Request, obj: ObjectDef, which: str) -> web.Response:
        """GET sobjects/{O}/deleted|updated/?start=&end= (ISO datetimes, as simple-salesforce sends)."""
        window = []
        for name in ("start", "end"):
            moment = parse_datetime(request.query.get(name, ""))
            if moment is None:
                raise ApiError(
                    400, "INVALID_REPLICATION_DATE", f"{name} must be an ISO-8601 datetime", [name]
                )
            window.append(format_datetime(moment))
        start, end = window
        rows = self.store.rows(obj.name, include_deleted=True)
        changed = [r for r in rows if start <= r["LastModifiedDate"] <= end]
        if which == "updated":
            ids = [r["Id"] for r in changed if not r["IsDeleted"]]
            return json_response({"ids": ids, "latestDateCovered": end})
        deleted = [
            {"id": r["Id"], "deletedDate": r["LastModifiedDate"]} for r in changed if r["IsDeleted"]
        ]
        return json_response(
            {"deletedRecords": deleted, "earliestDateAvailable": start, "latestDateCovered": end}
        )

    def _basic(self, obj: ObjectDef, version: str) -> dict:
        info = obj.describe_basic()
        base = f"/services/data/v{version}/sobjects/{obj.name}"
        info["urls"] = {
            "sobject": base,
            "describe": f"{base}/describe",
            "rowTemplate": f"{base}/{{ID}}",
        }
        return info

    async def by_id(
        self, request: web.Request, version: str, obj: ObjectDef, value: str
    ) -> web.Response:
        records, method = self.records, request.method
        if method == "GET":
            record_id, data = records.load(obj, value)
            fields = request.query.get("fields")
            names = [n.strip() for n in fields.split(",") if n.strip()] if fields else None
            return json_response(records.render(obj, data, version, names))
        if method == "PATCH":
            body = await read_body(request)
            with self.store.transaction():
                records.update(obj, value, body)
            return web.Response(status=204)
        if method == "DELETE":
            with self.store.transaction():
                records.delete(obj, value)
            return web.Response(status=204)
        raise method_not_allowed(method, "GET,PATCH,DELETE")

    async def by_external_id(
        self,
        request: web.Request,
        version: str,
        obj: ObjectDef,
        field_name: str,
        value: str,
    ) -> web.Response:
        records, method = self.records, request.method
        if method == "GET":
            record_id = records.get_by_external(obj, field_name, value, version)
            found = self.store.get(record_id)
            assert found is not None
            return json_response(records.render(obj, found[1], version))
        if method == "PATCH":
            body = await read_body(request)
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
        raise method_not_allowed(method, "GET,PATCH,DELETE")

    # -------------------------------------------------------------- query

    def _lookup(self) -> soql.Lookup:
        cache: dict[str, dict | None] = {}

        def lookup(record_id: str) -> dict | None:
            if record_id not in cache:
                found = self.store.get(record_id)
                cache[record_id] = (
                    None if found is None or found[2] else {**found[1], "__type": found[0]}
                )
            return cache[record_id]

        return lookup

    def _candidates(self, parsed: soql.Query, include_deleted: bool) -> list[dict]:
        """The rows a query must look at: narrowed by an index when WHERE allows it."""
        name = parsed.obj.name
        for field_name, value in soql.indexed_equalities(parsed.where):
            if field_name == "Id":
                return self.store.rows_by_ids(name, [value], include_deleted=include_deleted)
            if field_name in INDEXED_FIELDS:
                ids = self.store.find(name, field_name, value, include_deleted=include_deleted)
                return self.store.rows_by_ids(name, ids, include_deleted=include_deleted)
        return self.store.rows(name, include_deleted=include_deleted)

    def query(self, request: web.Request, version: str, *, include_deleted: bool) -> web.Response:
        text = request.query.get("q")
        if text is None:
            raise ApiError(400, "MALFORMED_QUERY", "The q parameter (a SOQL query) is missing")
        parsed = soql.parse(text)
        lookup = self._lookup()
        rows = self._candidates(parsed, include_deleted)
        selected = soql.execute(parsed, rows, lookup)
        if parsed.count_only:
            return json_response({"totalSize": len(selected), "done": True, "records": []})

        def url(type_: str, record_id: str) -> str:
            return record_url(version, type_, record_id)

        projected = [soql.project(parsed, row, lookup, url) for row in selected]
        batch = batch_size(request.headers.get("Sforce-Query-Options", ""))
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
        if not parts:
            if method != "POST":
                raise method_not_allowed(method, "POST")
            return await composite.composite_request(self, request, version)
        if parts[0] != "sobjects":
            raise not_found("The local org supports /composite and /composite/sobjects only")
        rest = parts[1:]
        if not rest:
            if method == "POST":
                body = await read_body(request)
                return composite.collection(self, version, body, "create")
            if method == "PATCH":
                body = await read_body(request)
                return composite.collection(self, version, body, "update")
            if method == "DELETE":
                return composite.collection_delete(self, request)
            raise method_not_allowed(method, "POST,PATCH,DELETE")
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
            body = await read_body(request)
            return composite.collection(self, version, body, "upsert", obj=obj, field_name=rest[1])
        raise not_found()
