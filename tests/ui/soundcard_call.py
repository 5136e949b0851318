"""One softphone call through real audio devices, run as its own process by test_soundcard.py.

The machine has no sound card, so the test gives it a virtual one: a PulseAudio server with two
null sinks, `line` (what the caller says is played into it; its monitor is the default
microphone) and `speaker` (the default output; its monitor is recorded). PortAudio reaches it
through ALSA's pulse plugin, exactly as on a laptop whose sound goes through PulseAudio or
PipeWire. This process must start after that server, because PortAudio lists devices once.

Usage: python soundcard_call.py CALLER.wav RECORDING.wav; prints one JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from ear_story import EAR_STORY  # noqa: E402  (tests/ui, this script's folder)
from PySide6.QtCore import QTimer  # noqa: E402

from workbench.engine import events as ev  # noqa: E402
from workbench.ui import messages as msg  # noqa: E402
from workbench.ui.app import make_application  # noqa: E402
from workbench.ui.main_window import MainWindow  # noqa: E402

TIMEOUT_S = 120


def main(caller_wav: str, recording: str) -> dict:
    app = make_application()
    window = MainWindow()
    phone = window.softphone
    result: dict = {
        "problem": window.devices.problem,
        "inputs": [name for _, name in window.devices.inputs],
        "outputs": [name for _, name in window.devices.outputs],
        "caller_heard_as": "",
        "agent_replied": False,
        "max_mic_dbfs": -90.0,
        "ended": False,
        "ear_story": [],
    }
    for combo in (phone.mic_combo, phone.speaker_combo):
        combo.setCurrentIndex(combo.findText("default"))
    result["mic_selected"] = phone.mic_combo.currentText()
    result["speaker_selected"] = phone.speaker_combo.currentText()
    recorder = subprocess.Popen(
        ["parecord", "--device=speaker.monitor", "--channels=1", "--rate=8000",
         "--format=s16le", "--file-format=wav", recording]
    )  # fmt: skip
    players: list[subprocess.Popen] = []

    def on_ready(ready: msg.RuntimeReady) -> None:
        if ready.error:
            result["problem"] = ready.error
            app.quit()
            return
        phone.place_call()

    def on_event(event: object) -> None:
        if isinstance(event, ev.AgentAudioStopped) and event.turn == 0 and not players:
            # The greeting is over: the caller speaks into the microphone.
            players.append(subprocess.Popen(["paplay", "--device=line", caller_wav]))
        if isinstance(event, EAR_STORY):
            result["ear_story"].append(repr(event)[:300])
        if isinstance(event, ev.FinalTranscript) and event.text:
            result["caller_heard_as"] = " ".join((result["caller_heard_as"], event.text)).strip()
        timeline = getattr(event, "timeline", None)
        answered = timeline is not None and bool(getattr(timeline, "caller_text", ""))
        if isinstance(event, ev.TurnCompleted) and answered and not result["agent_replied"]:
            # The reply to the caller's words (on busy cores the agent may first have asked
            # whether the caller is still there: a turn with no caller words).
            result["agent_replied"] = True
            # Let the reply play out of the speaker for a moment, then hang up.
            QTimer.singleShot(1500, phone.hang_up)

    def on_levels(mic_db: float, _speaker_db: float) -> None:
        result["max_mic_dbfs"] = max(result["max_mic_dbfs"], round(mic_db, 1))

    def on_state(state: str, _detail: str) -> None:
        if state == msg.ENDED:
            result["ended"] = True
            QTimer.singleShot(300, app.quit)

    window.bridge.runtime_ready.connect(on_ready)
    window.bridge.engine_event.connect(on_event)
    window.bridge.levels.connect(on_levels)
    window.bridge.call_state_changed.connect(on_state)
    QTimer.singleShot(TIMEOUT_S * 1000, app.quit)
    window.show()
    app.exec()
    audio = window.handle.audio
    if audio is not None:
        result["mic_blocks_dropped"] = getattr(audio.caller, "mic_blocks_dropped", None)
        result["speaker_underruns"] = audio._playback.underruns
    window.shutdown()
    recorder.terminate()
    recorder.wait(10)
    for player in players:
        player.wait(10)
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])), flush=True)
