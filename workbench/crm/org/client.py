"""Connecting the real simple-salesforce client to a plain-http local org.

simple-salesforce always builds `https://` URLs (reference §3); an adapter mounted for the
org's host rewrites them to `http://` on the way out, so the client code path is unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

LOGIN_HOSTS = ("https://login.salesforce.com", "https://test.salesforce.com")


class _HttpsToHttpAdapter(HTTPAdapter):
    """Sends requests for `prefix` to `target` (an http:// origin) instead."""

    def __init__(self, prefix: str, target: str) -> None:
        super().__init__()
        self._prefix = prefix
        self._target = target.rstrip("/")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if request.url.startswith(self._prefix):
            request.url = self._target + request.url[len(self._prefix) :]
        return super().send(request, **kwargs)


def local_http_session(
    instance_url: str, session: requests.Session | None = None
) -> requests.Session:
    """A `requests.Session` that sends https:// traffic for this org (and the login hosts) to it."""
    parsed = urlparse(instance_url)
    if parsed.scheme != "http" or not parsed.hostname:
        raise ValueError(f"expected an http://host:port instance URL, got {instance_url!r}")
    session = session or requests.Session()
    session.trust_env = False  # no proxies from the environment for a loopback server
    origin = f"http://{parsed.netloc}"
    session.mount(
        f"https://{parsed.netloc}", _HttpsToHttpAdapter(f"https://{parsed.netloc}", origin)
    )
    for host in LOGIN_HOSTS:
        session.mount(host, _HttpsToHttpAdapter(host, origin))
    return session


def local_salesforce(
    instance_url: str, token: str, *, version: str = "59.0", session: requests.Session | None = None
) -> Salesforce:
    """A ready `simple_salesforce.Salesforce` for a local org at `instance_url` ("http://…")."""
    from simple_salesforce import Salesforce as Client  # imported lazily: slow to import

    return Client(
        instance_url=instance_url,
        session_id=token,
        version=version,
        session=local_http_session(instance_url, session),
    )
