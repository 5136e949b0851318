"""Who may use the server: the shared token and Twilio's request signatures.

Apart from the server because it is one policy over every route (an aiohttp middleware) with
its own reading of requests (where a token comes from, which URL Twilio signed); the routes
only read what it decided (`AUTHORIZED`, `TOKEN_PRESENTED` on the request).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from workbench.telephony import signature as twilio_signature
from workbench.telephony.metrics import ServerMetrics
from workbench.telephony.server.config import ServerConfig

log = logging.getLogger(__name__)

AUTHORIZED = web.RequestKey("authorized", bool)  # the request carried the token or a signature
TOKEN_PRESENTED = web.RequestKey("token_presented", bool)  # it carried the shared token itself

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_matches(config: ServerConfig, offered: str | None) -> bool:
    if not config.token:
        return not config.token_required
    return offered is not None and hmac.compare_digest(offered, config.token)


def offered_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.query.get("token")


def signed_url(config: ServerConfig, request: web.Request) -> str:
    """The URL Twilio signed for this request: the public one when configured (`wss://`
    for the stream, `https://` for webhooks), else the URL this request reached."""
    stream = request.path == "/media"
    query = f"?{request.query_string}" if request.query_string else ""
    if config.public_url:
        base = config.public_url.rstrip("/")
        if not stream:
            base = "http" + base[2:]  # ws:// -> http://, wss:// -> https://
        return base + request.path + query
    proto = request.headers.get("X-Forwarded-Proto", request.scheme)
    secure = proto in ("https", "wss")
    scheme = ("wss" if secure else "ws") if stream else ("https" if secure else "http")
    return f"{scheme}://{request.host}{request.path}{query}"


def auth_middleware(config: ServerConfig, metrics: ServerMetrics):
    """The middleware that checks every request but the health probes (module docstring of
    `media_server.py`: what is refused, with which status)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path == "/healthz" or path.startswith("/healthz/"):
            return await handler(request)
        auth_token = config.twilio_auth_token
        if auth_token and path in ("/twiml", "/media"):
            offered_signature = request.headers.get(twilio_signature.HEADER)
            if offered_signature is not None:
                params = await request.post() if request.method == "POST" else {}
                pairs = [(k, str(v)) for k, v in params.items()]
                url = signed_url(config, request)
                if not twilio_signature.valid(auth_token, url, pairs, offered_signature):
                    log.warning(
                        "%s %s refused: wrong Twilio signature for %s", request.method, path, url
                    )
                    metrics.inc(
                        "workbench_requests_refused_total", route=path[1:], reason="bad_signature"
                    )
                    return web.Response(status=403, text="invalid X-Twilio-Signature\n")
                request[AUTHORIZED] = True
                return await handler(request)
            if offered_token(request) is None and not (path == "/media" and config.token):
                # Neither Twilio's signature nor our token (which `/media` may still bring in
                # `start`): refused like a forged request.
                log.warning("%s %s refused: no X-Twilio-Signature", request.method, path)
                metrics.inc("workbench_requests_refused_total", route=path[1:], reason="unsigned")
                return web.Response(status=403, text="X-Twilio-Signature required\n")
        if not config.token_required:
            return await handler(request)
        offered = offered_token(request)
        if offered is None:
            if path == "/media":  # the token may come in `start` instead
                request[AUTHORIZED] = False
                return await handler(request)
            log.warning("%s %s refused: no token", request.method, path)
            return web.Response(status=401, text="token required\n")
        if not token_matches(config, offered):
            log.warning("%s %s refused: wrong token", request.method, path)
            return web.Response(status=403, text="wrong token\n")
        request[AUTHORIZED] = True
        request[TOKEN_PRESENTED] = True
        return await handler(request)

    return check
