"""Twilio's request signatures, both ways: the server checks `X-Twilio-Signature` on `/twiml`
and the `/media` upgrade; the client and `workbench call` sign as Twilio does. The shared
token given to `serve` is always enforced and never handed to a request that lacks it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import websocket
from telephony_helpers import TOKEN, start_server
from typer.testing import CliRunner

from workbench.cli import app
from workbench.errors import WorkbenchError
from workbench.telephony import signature
from workbench.telephony.caller.client import CallRefused, MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

AUTH_TOKEN = "0123456789abcdef0123456789abcdef"  # a made-up account auth token

# Twilio's published example ("Validating requests"): auth token 12345, this URL and form.
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
EXAMPLE_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def by_the_docs(auth_token: str, url: str, params: dict[str, str]) -> str:
    """The documented algorithm, written out here independently of `signature.py`."""
    data = url + "".join(key + params[key] for key in sorted(params))
    mac = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def test_twilios_published_example_signs_and_validates():
    assert by_the_docs("12345", EXAMPLE_URL, EXAMPLE_PARAMS) == EXAMPLE_SIGNATURE
    assert signature.signature("12345", EXAMPLE_URL, EXAMPLE_PARAMS) == EXAMPLE_SIGNATURE
    assert signature.valid("12345", EXAMPLE_URL, EXAMPLE_PARAMS, EXAMPLE_SIGNATURE)
    # Twilio's signers disagree about explicit default ports: both forms validate.
    with_port = EXAMPLE_URL.replace("mycompany.com", "mycompany.com:443")
    assert signature.valid("12345", with_port, EXAMPLE_PARAMS, EXAMPLE_SIGNATURE)
    assert not signature.valid("12346", EXAMPLE_URL, EXAMPLE_PARAMS, EXAMPLE_SIGNATURE)
    assert not signature.valid(
        "12345", EXAMPLE_URL, {**EXAMPLE_PARAMS, "Digits": "1"}, EXAMPLE_SIGNATURE
    )
    assert not signature.valid("12345", EXAMPLE_URL, EXAMPLE_PARAMS, None)


def test_a_stream_upgrade_is_signed_over_its_wss_url_with_no_parameters():
    url = "wss://agent.example.com/media"
    signed = signature.signature(AUTH_TOKEN, url)
    assert signed == by_the_docs(AUTH_TOKEN, url, {})
    assert signature.valid(AUTH_TOKEN, "wss://agent.example.com:443/media", {}, signed)
    assert not signature.valid(AUTH_TOKEN, "https://agent.example.com/media", {}, signed)


def test_a_parameter_sent_twice_is_signed_with_each_value_in_order():
    pairs = [("To", "+2"), ("From", "+1"), ("To", "+1")]
    assert signature.signature("t", "https://x/y", pairs) == by_the_docs_pairs(
        "t", "https://x/y", "From+1To+1To+2"
    )


def by_the_docs_pairs(auth_token: str, url: str, tail: str) -> str:
    mac = hmac.new(auth_token.encode(), (url + tail).encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


@pytest.fixture(scope="module")
def signed_server(runtime):
    server = start_server(runtime, twilio_auth_token=AUTH_TOKEN)
    yield server
    server.thread.stop(drain_timeout_s=2.0)


def status_of(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


FORM = {"CallSid": "CA123", "From": "+14155550100", "To": "+18005550100"}


def twiml_request(base: str, sig: str | None, query: str = "") -> urllib.request.Request:
    headers = {signature.HEADER: sig} if sig is not None else {}
    data = urllib.parse.urlencode(FORM).encode()
    return urllib.request.Request(base + "/twiml" + query, data=data, headers=headers)


def upgrade_status(url: str, header: list[str]) -> int:
    try:
        websocket.create_connection(url, timeout=10, header=header).close()
        return 101
    except websocket.WebSocketBadStatusException as error:
        return error.status_code


@pytest.mark.network
@pytest.mark.slow
def test_twiml_needs_a_valid_signature(signed_server):
    url = f"http://127.0.0.1:{signed_server.port}/twiml?tenant=acme"
    good = by_the_docs(AUTH_TOKEN, url, FORM)
    base = signed_server.http
    assert status_of(twiml_request(base, None, "?tenant=acme"))[0] == 403
    assert status_of(twiml_request(base, by_the_docs("wrong", url, FORM), "?tenant=acme"))[0] == 403
    assert status_of(twiml_request(base, good, ""))[0] == 403  # signed for another URL
    status, body = status_of(twiml_request(base, good, "?tenant=acme"))
    assert status == 200 and "<Connect><Stream" in body
    assert 'name="token"' not in body  # no shared secret configured, none handed out
    refused = signed_server.server.metrics.counter(
        "workbench_requests_refused_total", route="twiml", reason="bad_signature"
    )
    assert refused == 2


@pytest.mark.network
@pytest.mark.slow
def test_the_media_upgrade_needs_a_valid_signature_and_a_signed_call_is_served(signed_server):
    media = signed_server.media_url
    assert upgrade_status(media, []) == 403
    wrong = by_the_docs("wrong", media, {})
    assert upgrade_status(media, [f"{signature.HEADER}: {wrong}"]) == 403
    assert (
        upgrade_status(media, [f"{signature.HEADER}: {by_the_docs(AUTH_TOKEN, media, {})}"]) == 101
    )
    with pytest.raises(CallRefused) as refusal:
        MediaStreamClient(media).connect()  # an unsigned client is refused, not failed
    assert refusal.value.status == 403
    client = MediaStreamClient(media, twilio_auth_token=AUTH_TOKEN)
    client.connect()
    pacer = Pacer([client]).start()
    try:
        assert client.wait_until(lambda: client.results.first_agent_audio_ms is not None, 20)
    finally:
        pacer.stop()
        client.hang_up()
    assert signed_server.wait_finished(client.call_sid).end_reason == "caller_hung_up"


@pytest.mark.network
@pytest.mark.slow
def test_behind_a_proxy_the_public_url_is_what_the_signature_covers(runtime):
    server = start_server(
        runtime, twilio_auth_token=AUTH_TOKEN, public_url="wss://agent.example.com"
    )
    try:
        public = "wss://agent.example.com/media"
        assert (
            upgrade_status(
                server.media_url,
                [f"{signature.HEADER}: {by_the_docs(AUTH_TOKEN, server.media_url, {})}"],
            )
            == 403
        )
        assert (
            upgrade_status(
                server.media_url, [f"{signature.HEADER}: {by_the_docs(AUTH_TOKEN, public, {})}"]
            )
            == 101
        )
        webhook = "https://agent.example.com/twiml"
        status, body = status_of(twiml_request(server.http, by_the_docs(AUTH_TOKEN, webhook, FORM)))
        assert status == 200 and '<Stream url="wss://agent.example.com/media">' in body
    finally:
        server.thread.stop(drain_timeout_s=2.0)


@pytest.mark.network
@pytest.mark.slow
def test_with_a_token_too_peers_that_are_not_twilio_use_the_token(runtime):
    server = start_server(runtime, twilio_auth_token=AUTH_TOKEN, token=TOKEN)
    try:
        assert upgrade_status(server.media_url + f"?token={TOKEN}", []) == 101
        assert upgrade_status(server.media_url + "?token=wrong", []) == 403
        status, body = status_of(twiml_request(server.http, None, f"?token={TOKEN}"))
        assert status == 200 and f'value="{TOKEN}"' in body  # it presented the token
        signed_url = f"http://127.0.0.1:{server.port}/twiml"
        status, body = status_of(
            twiml_request(server.http, by_the_docs(AUTH_TOKEN, signed_url, FORM))
        )
        assert status == 200 and TOKEN not in body  # Twilio signs the stream; no secret needed
        assert status_of(twiml_request(server.http, None))[0] == 403
    finally:
        server.thread.stop(drain_timeout_s=2.0)


@pytest.mark.network
@pytest.mark.slow
def test_a_token_given_on_loopback_is_enforced_and_never_handed_out(runtime):
    server = start_server(runtime, token=TOKEN)  # loopback, no require_token
    try:
        assert status_of(twiml_request(server.http, None))[0] == 401
        assert status_of(urllib.request.Request(server.http + "/metrics"))[0] == 401
        status, body = status_of(twiml_request(server.http, None, f"?token={TOKEN}"))
        assert status == 200 and f'value="{TOKEN}"' in body
        health = json.loads(status_of(urllib.request.Request(server.http + "/healthz"))[1])
        assert health["live"] is True  # health needs no token
    finally:
        server.thread.stop(drain_timeout_s=2.0)


SCENARIO = """\
name: signed-call
caller: {number: "+14155550155", voice: "espeak:en-us"}
steps:
  - say: What are your opening hours?
expect:
  turn_latency_ms: {max: 5000}
"""


@pytest.mark.network
@pytest.mark.slow
def test_workbench_call_signs_when_given_the_auth_token(signed_server, tmp_path):
    scenario = tmp_path / "signed.yaml"
    scenario.write_text(SCENARIO)
    unsigned = CliRunner().invoke(
        app,
        ["call", signed_server.media_url, "--scenario", str(scenario)],
        env={"TWILIO_AUTH_TOKEN": ""},
    )
    assert isinstance(unsigned.exception, WorkbenchError)  # `main` prints it, exits 2
    assert "refused the call" in str(unsigned.exception) and "403" in str(unsigned.exception)
    out = tmp_path / "call.json"
    signed = CliRunner().invoke(
        app,
        ["call", signed_server.media_url, "--scenario", str(scenario), "--json", str(out)],
        env={"TWILIO_AUTH_TOKEN": AUTH_TOKEN},
    )
    assert signed.exit_code == 0, signed.output
    assert len(json.loads(out.read_text())["turn_latencies_ms"]) == 1
