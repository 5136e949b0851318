"""The window as the human a call is handed to: the Agent desk panel and the softphone's Answer,
against a real media-stream server on loopback and a Twilio-faithful caller."""

from __future__ import annotations

import numpy as np
import pytest
from telephony.telephony_helpers import VIP_NUMBER, start_server

from workbench.audio.codec import ulaw_decode
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

pytestmark = [pytest.mark.gui, pytest.mark.network]


def loud(frame: bytes, level: int = 1000) -> bool:
    return float(np.abs(ulaw_decode(frame).astype(np.int32)).mean()) > level


def test_an_escalated_call_rings_the_softphone_and_is_answered_with_its_context_first(
    qtbot, make_main_window, call_runtime
):
    server = start_server(call_runtime)
    window = make_main_window()
    desk, phone = window.desk, window.softphone
    client = MediaStreamClient(server.media_url, caller_number=VIP_NUMBER, record_audio=True)
    pacer = None
    try:
        assert not phone.answer_button.isEnabled()  # nobody is waiting for a human yet
        desk.url_edit.setText(f"ws://127.0.0.1:{server.port}/agent")
        desk.toggle_connection()
        qtbot.waitUntil(lambda: "Connected" in desk.status_label.text(), timeout=10_000)

        # A caller asks the AI for a person: the call waits in a queue and the softphone rings.
        client.connect()
        pacer = Pacer([client]).start()
        tts = call_runtime.stack(call_runtime.agent()).caller_tts("piper:joe")
        assert client.wait_for_agent_quiet(500, 20)  # the greeting
        client.send_audio(tts.render_pcm("I want to speak to a person.", 8000))
        qtbot.waitUntil(lambda: phone.answer_button.isEnabled(), timeout=30_000)
        assert desk.queue_list.count() == 1 and phone.answer_button.text() == "Answer (1)"

        # Answer: the context is on screen before the caller hears the human.
        phone.answer_button.click()
        qtbot.waitUntil(lambda: "On the call" in desk.status_label.text(), timeout=10_000)
        context = desk.context_view.toPlainText()
        assert "caller asked for a person" in context
        assert "Dana Whitfield" in context  # the CRM record of this VIP caller
        assert not phone.answer_button.isEnabled()  # one call at a time

        # What the human types is spoken to the caller.
        spoke_at = len(client.played_audio)
        desk.say_edit.setText("Hello, this is Sam. How can I help?")
        desk.say_button.click()
        assert client.wait_until(lambda: any(loud(f) for f in client.played_audio[spoke_at:]), 15)

        # Hanging up at the desk ends the caller's call.
        desk.hangup_button.click()
        assert client.closed.wait(15)
        qtbot.waitUntil(lambda: "ended" in desk.status_label.text(), timeout=10_000)
    finally:
        if pacer is not None:
            pacer.stop()
        client.hang_up()
        desk.shutdown()
        server.thread.stop(drain_timeout_s=2.0)


def test_a_desk_that_cannot_connect_says_so_and_stays_usable(qtbot, make_main_window):
    window = make_main_window()
    desk = window.desk
    desk.url_edit.setText("ws://127.0.0.1:9/agent")  # nothing listens on the discard port
    desk.toggle_connection()
    qtbot.waitUntil(lambda: "offline" in desk.status_label.text(), timeout=15_000)
    assert desk.connect_button.text() == "Connect" and desk.url_edit.isEnabled()
    assert not window.softphone.answer_button.isEnabled()
