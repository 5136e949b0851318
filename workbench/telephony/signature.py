"""Twilio's request signature (`X-Twilio-Signature`), computed and checked.

Twilio signs every request it makes to an application — webhooks such as `POST /twiml` and
the WebSocket upgrade of a Media Stream — with the account's auth token (Twilio's "Validating
requests" documentation):

1. take the full URL Twilio requested, query string included (for a stream: the `wss://` URL
   of the TwiML's `<Stream url>`, as Twilio dialled it);
2. for a form POST, append each parameter's name and value, sorted by name (a name sent
   several times: each of its values, sorted), with no separators;
3. HMAC-SHA1 of that string (UTF-8) keyed with the auth token, base64-encoded.

The `twilio` package's `RequestValidator` does the same over a URL string, so it covers the
WebSocket case as well (nothing in it is HTTP-specific); it also accepts the URL with and
without an explicit port, because Twilio's own signers disagree on that. This module follows
it, with the standard library only (the `twilio` package would bring an HTTP client and JWT
library for 30 lines), with one difference: the default port it adds is 443 for `https` and
`wss` (the package adds 80 to every scheme but `https`, so a `wss://host:443/…` signature
would only match without the port). Twilio's published example values are in the tests.

Both sides use it: the server checks (`valid`), and the Twilio-faithful client, `workbench
call` and the Locust harness sign (`signature`) when given the auth token, so they can test an
agent deployed with signature checking on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import cast
from urllib.parse import urlsplit, urlunsplit

HEADER = "X-Twilio-Signature"
AUTH_TOKEN_ENV = "TWILIO_AUTH_TOKEN"
_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def signature(auth_token: str, url: str, params: Params = ()) -> str:
    """The `X-Twilio-Signature` value for a request to `url` with POST `params`."""
    pairs = _pairs(params)
    data = url + "".join(name + value for name, value in sorted(set(pairs)))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid(auth_token: str, url: str, params: Params, offered: str | None) -> bool:
    """Does `offered` sign this request? The URL is tried with and without its port."""
    if not offered or not auth_token:
        return False
    pairs = _pairs(params)
    return any(
        hmac.compare_digest(signature(auth_token, candidate, pairs), offered)
        for candidate in _url_variants(url)
    )


def _pairs(params: Params) -> list[tuple[str, str]]:
    """POST parameters as (name, value) pairs, from a mapping or from pairs."""
    if isinstance(params, Mapping):
        return list(cast("Mapping[str, str]", params).items())
    return list(params)


def _url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    variants = [url, urlunsplit(parts._replace(netloc=prefix + host))]
    default = _DEFAULT_PORTS.get(parts.scheme)
    if parts.port is None and default is not None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    return list(dict.fromkeys(variants))
