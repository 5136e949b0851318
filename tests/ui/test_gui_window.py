"""The main window, driven as a person would: typed calls, scenarios, network, CRM, agent."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from ear_story import ear_story
from PySide6.QtCore import QPointF, Qt

from workbench.engine import events as ev
from workbench.paths import DEMO_AGENT_DIR, SCENARIOS_DIR
from workbench.ui import messages as msg

pytestmark = pytest.mark.gui


def _event(window, kind, **fields):
    """A waitSignal check: the bridge delivered an event of `kind` with these fields."""

    def check(event) -> bool:
        return isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items())

    return check


def _state(state):
    return lambda got, _detail: got == state


def _answered_turn(event) -> bool:
    """A waitSignal check: a turn that answered something the caller said."""
    timeline = getattr(event, "timeline", None)
    return (
        isinstance(event, ev.TurnCompleted) and timeline is not None and bool(timeline.caller_text)
    )


def click_waterfall_row(qtbot, waterfall, turn: int) -> None:
    waterfall.flush()
    plot = waterfall.plot
    scene_point = plot.getViewBox().mapViewToScene(QPointF(50.0, waterfall.row_of(turn)))
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=plot.mapFromScene(scene_point))


def test_a_typed_call_shows_the_transcript_the_waterfall_and_the_inspector(qtbot, make_main_window):
    window = make_main_window()
    events: list = []
    window.bridge.engine_event.connect(events.append)
    phone = window.softphone
    assert phone.call_button.isEnabled()
    # The caller waits for the greeting to end (speaking over it is a barge-in: the turn-taking
    # tests' subject, not this one's).
    with qtbot.waitSignal(
        window.bridge.engine_event,
        check_params_cb=_event(window, ev.AgentAudioStopped, turn=0),
        timeout=30_000,
    ):
        with qtbot.waitSignal(
            window.bridge.call_state_changed, check_params_cb=_state(msg.CONNECTED)
        ):
            qtbot.mouseClick(phone.call_button, Qt.MouseButton.LeftButton)
    assert phone.say_edit.isEnabled()  # typed mode, although there is no audio device

    with qtbot.waitSignal(
        window.bridge.engine_event, check_params_cb=_event(window, ev.DtmfReceived)
    ):
        qtbot.mouseClick(phone.key_buttons["5"], Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(window.bridge.call_state_changed, check_params_cb=_state(msg.ON_HOLD)):
        qtbot.mouseClick(phone.hold_button, Qt.MouseButton.LeftButton)
    assert not phone.say_edit.isEnabled()
    with qtbot.waitSignal(window.bridge.call_state_changed, check_params_cb=_state(msg.CONNECTED)):
        qtbot.mouseClick(phone.hold_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(phone.mute_button, Qt.MouseButton.LeftButton)
    assert not phone.say_edit.isEnabled() and phone.mute_button.text() == "Unmute"
    qtbot.mouseClick(phone.mute_button, Qt.MouseButton.LeftButton)
    assert phone.say_edit.isEnabled()

    qtbot.keyClicks(phone.say_edit, "What are your opening hours?")
    # The reply to the caller's words, heard (a slow final pass may be bridged by a filler; on
    # busy cores the agent may first have asked whether the caller is still there: a no-input
    # turn with no caller words).
    with qtbot.waitSignal(
        window.bridge.engine_event, check_params_cb=_answered_turn, timeout=60_000
    ) as answered:
        qtbot.keyClick(phone.say_edit, Qt.Key.Key_Return)
    turn = answered.args[0].turn
    with qtbot.waitSignal(
        window.bridge.call_state_changed, check_params_cb=_state(msg.ENDED), timeout=30_000
    ):
        qtbot.mouseClick(phone.hangup_button, Qt.MouseButton.LeftButton)

    callers = [e.text for e in window.transcript.entries if e.kind == "caller"]
    agents = [e for e in window.transcript.entries if e.kind == "agent"]
    assert any("opening hours" in text for text in callers), (callers, ear_story(events))
    assert len(agents) >= 2 and agents[0].heard  # the greeting and the reply
    assert "call ended" in window.transcript.html()
    assert "keypad 5" in window.transcript.html()
    assert {0, turn} <= set(window.waterfall.timelines)
    assert "p50" in window.waterfall.summary_label.text()

    click_waterfall_row(qtbot, window.waterfall, turn)
    assert window.inspector.shown_turn == turn
    text = window.inspector.text()
    assert "OpeningHours" in text and "runner-up" in text
    assert "Knowledge retrieved" in text and "caller waited" in text


def test_without_audio_devices_the_window_says_so_once_and_offers_typing(make_main_window):
    window = make_main_window()
    assert "No audio devices" in window.audio_label.text()
    assert "none in this test" in window.audio_label.toolTip()
    assert not window.softphone.mic_combo.isEnabled()
    assert window.softphone.voice_combo.count() > 1  # caller voices for typed lines


def test_a_scenario_run_from_the_panel_passes_and_opens_its_call(qtbot, make_main_window, tmp_path):
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(SCENARIOS_DIR / "opening-hours.yaml", suite)
    window = make_main_window(scenario_dir=suite)
    panel = window.scenarios
    qtbot.waitUntil(lambda: panel.suite_loaded, timeout=10_000)
    assert [i.text(0) for i in panel.items()] == ["opening-hours"]

    panel.tree.setCurrentItem(panel.items()[0])
    with qtbot.waitSignal(window.bridge.scenario_finished, timeout=60_000) as finished:
        qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    assert result.passed, result.failure + " " + result.evidence + result.error
    assert panel.items()[0].text(2) == "pass"

    qtbot.mouseClick(panel.open_button, Qt.MouseButton.LeftButton)
    assert 1 in window.waterfall.timelines
    assert any(e.kind == "caller" for e in window.transcript.entries)


def test_network_sliders_shape_the_caller_leg_lane(qtbot, make_main_window):
    window = make_main_window()
    window.network.set_values(delay_ms=250)
    assert window.handle._network.delay_ms == 250  # what the next call (and a live one) gets

    with qtbot.waitSignal(
        window.bridge.engine_event,
        check_params_cb=_event(window, ev.TurnCompleted, turn=1),
        timeout=60_000,
    ):
        window.handle.run_scripted_call(["What are your opening hours?"])
    lane = window.waterfall.timelines[1].lane("caller leg")
    assert lane is not None and lane.owner_kind == "network" and lane.duration_ms >= 250
    assert "caller leg" in window.network.lane_label.text()
    with qtbot.waitSignal(
        window.bridge.call_state_changed, check_params_cb=_state(msg.ENDED), timeout=30_000
    ):
        pass


def test_a_gui_call_is_scored_and_traced_like_every_other(qtbot, make_main_window, monkeypatch):
    import json

    from support.otlp_receiver import attributes, otlp_receiver

    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        window = make_main_window()
        with qtbot.waitSignal(window.bridge.call_finished, timeout=90_000) as got:
            window.handle.run_scripted_call(["What are your opening hours?"], ear="fast")
        finished = got.args[0]
        assert not finished.error
        card, sid = finished.scorecard, finished.result.call_id
        assert [(t.topic, t.success) for t in card.topics] == [("OpeningHours", True)]
        assert card.turns == 1 and card.latency_ms["turns"] == 1
        # The status bar tells the card; the Chrome/Perfetto trace is on disk.
        status = window.statusBar().currentMessage()
        assert "OpeningHours done" in status and finished.trace_path in status
        chrome = json.loads(Path(finished.trace_path).read_text())
        assert any(e["ph"] == "X" and e["args"]["turn"] == 1 for e in chrome["traceEvents"])
        # One OTLP trace whose turn lanes add up to the turn the caller waited for.
        qtbot.waitUntil(
            lambda: any(attributes(s).get("callSid") == sid for _, s in receiver.spans()),
            timeout=20_000,
        )
        spans = [s for _, s in receiver.spans() if attributes(s).get("callSid") == sid]
        assert len({s.trace_id for s in spans}) == 1
        (turn,) = [s for s in spans if s.name == "turn 1"]
        lanes = [
            s
            for s in spans
            if s.parent_span_id == turn.span_id and attributes(s)["workbench.span_kind"] == "lane"
        ]
        lane_ns = sum(s.end_time_unix_nano - s.start_time_unix_nano for s in lanes)
        (timeline,) = [t for t in finished.result.timelines if t.turn == 1]
        assert lane_ns / 1e6 == pytest.approx(timeline.total_ms, abs=0.001)


def test_the_analytics_panel_adds_up_the_calls_made_here_and_the_runs_added(
    qtbot, make_main_window, monkeypatch, tmp_path
):
    import json

    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "home"))
    window = make_main_window()
    panel = window.analytics
    panel.refresh()
    assert panel.data is None and "no calls yet" in panel.summary_label.text()

    with qtbot.waitSignal(window.bridge.call_finished, timeout=90_000) as got:
        window.handle.run_scripted_call(["What are your opening hours?"], ear="fast")
    card = got.args[0].scorecard
    # The call was logged as serve logs its calls, and the panel refreshed on its own.
    log = tmp_path / "home" / "gui" / "calls.jsonl"
    (line,) = [json.loads(text) for text in log.read_text().splitlines()]
    assert line["scorecard"] == json.loads(json.dumps(card.to_dict()))
    qtbot.waitUntil(lambda: panel.data is not None and panel.data["calls"] == 1)
    assert panel.table.item(0, 0).text() == "OpeningHours"
    assert panel.table.item(0, 5).text() == "1/1"  # its task succeeded
    assert "1 calls" in panel.summary_label.text()

    # A run file adds its calls to the same figures: here the same call, resolved by the AI.
    resolved = {**json.loads(json.dumps(card.to_dict())), "resolution": "ai_resolved"}
    run = {
        "format": "workbench-run/1",
        "scenarios": [{"name": "asked", "passed": True, "scorecard": resolved}],
    }
    (tmp_path / "run.json").write_text(json.dumps(run))
    panel.add_sources([tmp_path / "run.json"])
    topic = panel.data["containment_by_topic"]["OpeningHours"]
    assert panel.data["calls"] == 2 and topic["calls"] == 2 and topic["ai_resolved"] == 1
    assert panel.table.item(0, 1).text() == "2" and panel.table.item(0, 5).text() == "2/2"
    assert f"{card.resolution}: OpeningHours" in panel.reasons_label.text()


def test_a_crm_record_appears_after_the_call(qtbot, make_main_window):
    window = make_main_window(crm=True)

    def final(update) -> bool:
        return update.final

    with qtbot.waitSignal(window.bridge.crm_updated, check_params_cb=final, timeout=90_000) as got:
        window.handle.run_scripted_call(["What are your opening hours?"])
    update = got.args[0]
    assert not update.error
    objects = [record["object"] for record in update.records]
    assert "VoiceCall" in objects
    voice_call = update.records[objects.index("VoiceCall")]
    assert voice_call["state"] == "delivered" and voice_call["Id"]
    assert voice_call["fields"]["Intent__c"] == "OpeningHours"  # read back from the org
    panel = window.crm_panel
    assert panel.table.rowCount() == len(update.records)
    assert "VoiceCall" in panel.detail_text() and "Intent__c: OpeningHours" in panel.detail_text()
    qtbot.waitUntil(lambda: window.softphone.state == msg.ENDED)


def test_the_agent_editor_shows_errors_by_line_and_hot_reloads(qtbot, make_main_window, tmp_path):
    agent_dir = tmp_path / "agent"
    shutil.copytree(DEMO_AGENT_DIR, agent_dir)
    window = make_main_window()
    panel = window.agent_panel
    panel.open_file(agent_dir / "agent.yaml")

    broken = panel.editor.toPlainText().replace("greeting:", "greting:", 1)
    with qtbot.waitSignal(window.bridge.agent_validated, timeout=10_000):
        panel.editor.setPlainText(broken)
        panel.validate()
    assert any(line and "greting" in text for line, text in panel.problems)
    assert not panel.save_button.isEnabled()
    assert "greting" not in Path(agent_dir / "agent.yaml").read_text()  # nothing saved

    fixed = broken.replace("greting:", "greeting:", 1).replace(
        "This is Ava, your virtual receptionist.", "This is Ava."
    )
    with qtbot.waitSignal(window.bridge.agent_validated, timeout=10_000):
        panel.editor.setPlainText(fixed)
        panel.validate()
    assert panel.problems == ()
    with qtbot.waitSignal(window.bridge.agent_reloaded, timeout=60_000) as reloaded:
        qtbot.mouseClick(panel.save_button, Qt.MouseButton.LeftButton)
    assert reloaded.args[0].error == ""
    assert "This is Ava." in (agent_dir / "agent.yaml").read_text()
    assert window.handle.agent_path == agent_dir


def test_the_load_panel_says_plainly_when_load_testing_is_missing(qtbot, monkeypatch):
    from workbench.ui.views import load

    monkeypatch.setattr(load, "load_command_available", lambda: False)
    panel = load.LoadPanel()
    qtbot.addWidget(panel)
    assert "not available yet" in panel.note.text()
    assert not panel.start_button.isEnabled()


@pytest.fixture
def media_server(call_runtime):
    """The telephony media-stream server on a free loopback port (no CRM), as a deployed agent."""
    from workbench.telephony.server.config import ServerConfig
    from workbench.telephony.server.media_server import MediaStreamServer
    from workbench.telephony.server.serving import ServerThread

    config = ServerConfig(host="127.0.0.1", port=0, crm=False)
    thread = ServerThread(lambda: MediaStreamServer(config, runtime=call_runtime))
    port = thread.start()
    yield f"ws://127.0.0.1:{port}/media"
    thread.stop(drain_timeout_s=2.0)


@pytest.mark.network
def test_a_deployed_agent_is_called_by_url(qtbot, make_main_window, media_server):
    window = make_main_window()
    phone = window.softphone
    assert phone.remote_radio.isEnabled()
    phone.remote_radio.setChecked(True)
    phone.url_edit.setText(media_server)
    with qtbot.waitSignal(window.bridge.call_state_changed, check_params_cb=_state(msg.CONNECTED)):
        qtbot.mouseClick(phone.call_button, Qt.MouseButton.LeftButton)

    def turn_heard(progress) -> bool:
        return progress.text.startswith("turn 1:")

    with qtbot.waitSignal(
        window.bridge.remote_progress, check_params_cb=turn_heard, timeout=60_000
    ):
        phone.say("What are your opening hours?")
    with qtbot.waitSignal(window.bridge.call_state_changed, check_params_cb=_state(msg.ENDED)):
        qtbot.mouseClick(phone.hangup_button, Qt.MouseButton.LeftButton)
    markers = [e.text for e in window.transcript.entries if e.kind == "marker"]
    assert any(m.startswith("caller says: What are your opening hours?") for m in markers)
    # (said over the greeting, the line may end while the agent still talks: then the turn
    # is reported untimed, never with a made-up reply time)
    assert any(
        "reply was heard" in m or "still speaking when the caller stopped" in m for m in markers
    )
    assert any(m.startswith("call ended") for m in markers)


def test_settings_persist_between_sessions(make_main_window):
    first = make_main_window()
    first.network.set_values(delay_ms=120, loss=0.02)
    first.softphone.number_edit.setText("+14155550123")
    first.shutdown()
    second = make_main_window()  # the same settings file
    assert second.network.delay.value() == 120 and second.network.loss.value() == 20
    assert second.softphone.number_edit.text() == "+14155550123"
    assert second.handle._network.delay_ms == 120  # restored sliders apply to the next call


def test_keyboard_shortcuts_place_a_call_hang_up_and_mute(make_main_window):
    from PySide6.QtGui import QAction

    window = make_main_window()
    shortcuts = {a.text(): a.shortcut().toString() for a in window.findChildren(QAction)}
    assert shortcuts["Call"] == "Ctrl+Return"
    assert shortcuts["Hang up"] == "Ctrl+E"
    assert shortcuts["Mute / unmute"] == "Ctrl+M"


def test_the_load_panel_runs_the_command_and_charts_its_progress(qtbot, tmp_path):
    """A stand-in for `workbench load` that prints progress the way the panel reads it."""
    from workbench.ui.views.load import LoadPanel

    script = tmp_path / "fake_load.py"
    report = tmp_path / "report.html"
    script.write_text(
        "import json, sys\n"
        "assert sys.argv[1:3] == ['load', 'local'], sys.argv\n"
        "for users, p50 in ((2, 300.0), (4, 320.0), (4, 350.0)):\n"
        "    print(json.dumps({'users': users, 'p50_ms': p50, 'p95_ms': p50 * 2, 'failures': 0}))\n"
        f"print('HTML report: {report}')\n"
    )
    panel = LoadPanel(program=[sys.executable, str(script)], available=True)
    qtbot.addWidget(panel)
    panel.users.setValue(4)
    qtbot.mouseClick(panel.start_button, Qt.MouseButton.LeftButton)
    assert panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: panel.process is None, timeout=30_000)
    assert [v for _, v in panel.samples["users"]] == [2.0, 4.0, 4.0]
    assert [v for _, v in panel.samples["p95"]] == [600.0, 640.0, 700.0]
    assert panel.report_path == report and panel.report_button.isEnabled()
    assert "--users 4" in panel.log.toPlainText() and "[exit code 0]" in panel.log.toPlainText()
