"""The local org's HTTP server: wires the REST API, login endpoints and admin routes.

All handlers run on one asyncio loop and touch SQLite synchronously, so writes are serialized.
The contract is reference/salesforce.md §11; `build_app` builds the aiohttp application for an
`OrgState`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from workbench.crm.org.api import OrgApi
from workbench.crm.org.errors import ApiError, not_found
from workbench.crm.org.ids import make_id
from workbench.crm.org.rest import (
    DROPPED,
    JSON_TYPE,
    ROUTE,
    authorized,
    error_response,
    json_response,
    method_not_allowed,
    read_body,
    unauthorized,
)
from workbench.crm.org.state import OrgState
from workbench.errors import ConfigError

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
VERSIONS = ("58.0", "59.0", "60.0", "61.0", "62.0", "63.0", "64.0", "65.0", "66.0")
ORG_ID = make_id("00D", 1)
USER_ID = make_id("005", 1)


def _versions() -> list[dict]:
    return [{"label": f"v{v}", "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]


async def _versions_handler(request: web.Request) -> web.Response:
    return json_response(_versions())


def _oauth_handler(state: OrgState) -> Handler:
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


def _soap_login_handler(state: OrgState) -> Handler:
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
        if not authorized(request, state.token):
            raise _AdminAuth()

    async def get_faults(request: web.Request) -> web.Response:
        guard(request)
        return json_response({"spec": str(state.spec)})

    async def post_faults(request: web.Request) -> web.Response:
        guard(request)
        body = await read_body(request)
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
    async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except ApiError as error:
            response = error_response(error)
        except _AdminAuth:
            response = unauthorized()
        except web.HTTPMethodNotAllowed as error:
            response = error_response(
                method_not_allowed(request.method, ",".join(sorted(error.allowed_methods)))
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
