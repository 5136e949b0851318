"""Graceful shutdown: stop accepting calls, let the active ones finish."""

from __future__ import annotations

import threading

import pytest
import websocket
from telephony_helpers import start_server

from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

pytestmark = [pytest.mark.network]


def test_draining_refuses_new_calls_and_lets_active_calls_finish(runtime):
    live = start_server(runtime)
    client = MediaStreamClient(live.media_url)
    client.connect()
    pacer = Pacer([client]).start()
    try:
        assert client.wait_until(lambda: client.results.first_agent_audio_ms is not None, 20)
        stopper = threading.Thread(target=live.thread.stop, kwargs={"drain_timeout_s": 30.0})
        stopper.start()
        with live.server.finished_changed:  # woken when the drain begins (and calls finish)
            live.server.finished_changed.wait_for(lambda: live.server.draining, 10)
        with pytest.raises((ConnectionError, websocket.WebSocketException)):
            websocket.create_connection(live.media_url, timeout=5)
        assert not client.closed.is_set()  # the active call goes on
    finally:
        pacer.stop()
        client.hang_up()
    stopper.join(30)
    assert not stopper.is_alive()
    assert live.server.finished[client.call_sid].end_reason == "caller_hung_up"
