"""The call panel's Ear selector: accurate unless `--ear` or the agent says otherwise, fixed
while a call runs, and the call listens with the ear it shows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from workbench.cli import main
from workbench.engine import events as ev
from workbench.ui import messages as msg

pytestmark = pytest.mark.gui


def _state(state):
    return lambda got, _detail: got == state


def _started(event) -> bool:
    return isinstance(event, ev.CallStarted)


def test_the_ear_selector_offers_both_ears_and_starts_on_accurate(make_main_window):
    phone = make_main_window().softphone
    choices = [phone.ear_combo.itemText(i) for i in range(phone.ear_combo.count())]
    assert choices == ["accurate", "fast"]
    assert phone.ear == "accurate" and phone.ear_combo.isEnabled()


def test_the_ear_flag_chooses_the_selectors_first_ear(make_main_window):
    assert make_main_window(ear="fast").softphone.ear == "fast"


def test_choosing_fast_places_a_call_that_listens_with_the_fast_ear(qtbot, make_main_window):
    window = make_main_window()
    phone = window.softphone
    phone.ear_combo.setCurrentText("fast")
    with qtbot.waitSignal(
        window.bridge.engine_event, check_params_cb=_started, timeout=30_000
    ) as started:
        qtbot.mouseClick(phone.call_button, Qt.MouseButton.LeftButton)
    assert started.args[0].settings["ear"] == "fast"
    qtbot.waitUntil(lambda: phone.state == msg.CONNECTED, timeout=10_000)
    assert not phone.ear_combo.isEnabled()  # a call listens with one ear throughout

    with qtbot.waitSignal(
        window.bridge.call_state_changed, check_params_cb=_state(msg.ENDED), timeout=30_000
    ):
        qtbot.mouseClick(phone.hangup_button, Qt.MouseButton.LeftButton)
    assert phone.ear_combo.isEnabled()


def test_a_deployed_agent_chooses_its_own_ear(make_main_window):
    phone = make_main_window().softphone
    phone.remote_radio.setChecked(True)
    assert not phone.ear_combo.isEnabled()


def test_an_accurate_final_shows_what_the_streaming_pass_heard_on_hover(qtbot):
    from workbench.ui.bridge import EngineBridge
    from workbench.ui.views.transcript import TranscriptView

    view = TranscriptView(EngineBridge())
    qtbot.addWidget(view)
    view.load_events(
        [
            ev.FinalTranscript(
                "CA1",
                900.0,
                text="i would also like to book a demo",
                ear="accurate",
                streaming_text="the book a demo",
            ),
            ev.FinalTranscript("CA1", 5000.0, text="yes", ear="accurate", streaming_text="yes"),
        ]
    )
    first, second = view.entries
    assert first.streaming_text == "the book a demo" and second.streaming_text == ""
    assert 'title="streaming pass heard: the book a demo"' in view.html()


@pytest.mark.parametrize("command", ["gui", "screenshots"])
def test_an_unknown_ear_is_one_error_line(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--ear", "loud"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "error: unknown ear 'loud' (choose one of: fast, accurate)\n"
