"""A desk's messages read into typed messages (the socket side: test_handoff.py)."""

from __future__ import annotations

import base64
import binascii

import pytest

from workbench.telephony.handoff.desk_protocol import (
    Audio,
    Hello,
    Monitor,
    QueueRequest,
    Say,
    Take,
)


def test_a_hello_says_the_role_a_name_and_lowercase_skills():
    hello = Hello.read({"event": "hello", "role": "agent", "skills": ["Billing", "Orders"]})
    assert hello == Hello("agent", "agent", frozenset({"billing", "orders"}))
    assert Hello.read({"event": "hello", "role": "supervisor", "name": "Sam"}).name == "Sam"


@pytest.mark.parametrize(
    "data", [{"event": "list"}, {"event": "hello"}, {"event": "hello", "role": "caller"}]
)
def test_anything_but_a_hello_with_a_role_is_no_hello(data):
    assert Hello.read(data) is None


def test_the_fields_of_a_message_are_typed():
    assert Take.read({"event": "take"}).call_sid is None
    assert Take.read({"event": "take", "callSid": "CA1"}).call_sid == "CA1"
    payload = base64.b64encode(b"\xff" * 160).decode()
    assert Audio.read({"event": "media", "media": {"payload": payload}}).payload == b"\xff" * 160
    assert Say.read({"event": "say", "text": "  one moment  "}).text == "one moment"
    assert QueueRequest.read({"event": "transfer", "queue": "Billing"}).queue == "Billing"
    monitor = Monitor.read({"event": "monitor", "callSid": "CA2"})
    assert (monitor.call_sid, monitor.mode) == ("CA2", "listen")


@pytest.mark.parametrize(
    ("reader", "data", "error"),
    [
        (Audio.read, {"event": "media"}, KeyError),
        (Audio.read, {"event": "media", "media": {"payload": "not base64!"}}, binascii.Error),
        (Say.read, {"event": "say"}, KeyError),
        (QueueRequest.read, {"event": "transfer"}, KeyError),
        (Hello.read, {"event": "hello", "role": "agent", "skills": 3}, TypeError),
    ],
)
def test_a_missing_or_malformed_field_raises_what_the_connection_says_back(reader, data, error):
    with pytest.raises(error):
        reader(data)
