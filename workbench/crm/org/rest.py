"""REST plumbing shared by the org's handlers: responses, auth, request parsing, routing."""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from workbench.crm.org.errors import ApiError, MultipleMatches, json_parser_error
from workbench.crm.org.schema import find_object

JSON_TYPE = "application/json;charset=UTF-8"
VERSION_SEGMENT = re.compile(r"^v(\d+\.\d)$")
ROUTE = web.RequestKey("route", str)  # fault route class, for counters
DROPPED = web.RequestKey("dropped", bool)


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", charset="UTF-8"
    )


def error_response(error: ApiError) -> web.Response:
    if isinstance(error, MultipleMatches):
        return json_response(error.urls, 300)
    return json_response(error.body(), error.status)


def unauthorized() -> web.Response:
    return json_response(
        [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], 401
    )


def authorized(request: web.Request, expected: str) -> bool:
    """Whether the request carries the org's bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() in ("bearer", "oauth") and hmac.compare_digest(token.strip(), expected)


async def read_body(request: web.Request) -> object:
    raw = await request.text()
    if not raw.strip():
        raise json_parser_error("The request body is empty; a JSON object was expected")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise json_parser_error(
            f"Unexpected character in JSON body: {error.msg} at [line:{error.lineno}, column:{error.colno}]"
        ) from None


@dataclass(frozen=True)
class Route:
    version: str
    parts: list[str]  # decoded path segments after /services/data/vXX.X
    kind: str  # fault route class
    object_name: str | None


def segments(request: web.Request) -> list[str]:
    raw = request.rel_url.raw_path
    parts = [unquote(p) for p in raw.split("/")]
    while parts and parts[-1] == "":
        parts.pop()  # optional trailing slash
    return parts


def classify(method: str, parts: list[str]) -> tuple[str, str | None]:
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
        if (len(parts) == 3 and parts[2] == "describe") or (len(parts) == 2 and method == "GET"):
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


def method_not_allowed(method: str, allowed: str) -> ApiError:
    return ApiError(
        405, "METHOD_NOT_ALLOWED", f"HTTP Method '{method}' not allowed. Allowed are {allowed}"
    )


def batch_size(header: str) -> int:
    match = re.search(r"batchSize\s*=\s*(\d+)", header)
    if not match:
        return 2000
    return max(200, min(2000, int(match.group(1))))


def drop_connection(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees a dropped connection)."""
    request[DROPPED] = True
    if request.transport is not None:
        request.transport.close()
    # aiohttp fails to write this to the closed transport and treats it as a client disconnect.
    return web.Response(status=499)
