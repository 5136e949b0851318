"""The softphone: target, dial pad, call controls, what the caller says, audio devices."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSignalBlocker, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from workbench.speech.ears import EARS
from workbench.ui import messages as msg
from workbench.ui.audio_io import AudioDevices
from workbench.ui.bridge import EngineBridge
from workbench.ui.engine_handle import (
    DEFAULT_EAR,
    CallOptions,
    EngineHandle,
    telephony_client_available,
)

KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#")
EAR_TIPS = {
    "accurate": "pocketsphinx streams (partials, endpointing, interruptions); a Whisper base "
    "final pass over each utterance gives the words the agent understands",
    "fast": "pocketsphinx streaming alone: cheap, as `workbench serve` listens by default; "
    "mishears more",
}

STATE_COLOURS = {
    msg.IDLE: "#6b7280",
    msg.RINGING: "#d97706",
    msg.CONNECTED: "#15803d",
    msg.ON_HOLD: "#2563eb",
    msg.AFTER_CALL_WORK: "#7c3aed",
    msg.ENDED: "#6b7280",
}


class SoftphonePanel(QWidget):
    """Places calls through the `EngineHandle`; follows the call state from the bridge."""

    state_changed = Signal(str)
    answer_requested = Signal()  # Answer: take the waiting handed-off call at the agent desk

    def __init__(
        self,
        bridge: EngineBridge,
        handle: EngineHandle,
        devices: AudioDevices,
        voices: list[str],
        parent: QWidget | None = None,
        *,
        ear: str | None = None,
    ) -> None:
        """`ear`: the `--ear` the app was started with (None: the agent's, else accurate)."""
        super().__init__(parent)
        self.bridge = bridge
        self.handle = handle
        self.devices = devices
        self.state = msg.IDLE
        self.ready = False
        self.calls_waiting = 0
        self._ear_from_flag = ear is not None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)

        self.state_label = QLabel()
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.state_label.setMinimumHeight(52)
        self.state_label.setStyleSheet(
            "QLabel { border: 2px solid #94a3b8; border-radius: 6px; color: #475569; }"
        )
        layout.addWidget(self.state_label)

        target_box = QGroupBox("Call")
        target_layout = QVBoxLayout(target_box)
        target_form = QFormLayout()
        self.local_radio = QRadioButton("Local agent (embedded engine)")
        self.local_radio.setChecked(True)
        self.remote_radio = QRadioButton("Deployed agent (WebSocket URL)")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("wss://example.com/media-stream")
        self.remote_note = QLabel()
        self.remote_note.setWordWrap(True)
        self.remote_note.setStyleSheet("color: #6b7280;")
        self.number_edit = QLineEdit("+14155550199")
        self.number_edit.setToolTip("The caller's number (the CRM looks the caller up by it)")
        target_layout.addWidget(self.local_radio)
        target_layout.addWidget(self.remote_radio)
        # How the local agent listens on the next call (a deployed agent's server decides its own).
        self.ear_combo = QComboBox()
        for name in EARS[::-1]:  # accurate first: where a designer listens
            self.ear_combo.addItem(name)
            tip_role = Qt.ItemDataRole.ToolTipRole
            self.ear_combo.setItemData(self.ear_combo.count() - 1, EAR_TIPS[name], tip_role)
        self.ear_combo.setCurrentText(ear or DEFAULT_EAR)
        self.ear_combo.setToolTip("How the local agent hears the caller on the next call")
        target_form.addRow("URL", self.url_edit)
        target_form.addRow("From", self.number_edit)
        target_form.addRow("Ear", self.ear_combo)
        target_layout.addLayout(target_form)
        target_layout.addWidget(self.remote_note)
        layout.addWidget(target_box)

        pad = QGridLayout()
        pad.setSpacing(4)
        self.key_buttons: dict[str, QPushButton] = {}
        for i, key in enumerate(KEYS):
            button = QPushButton(key)
            button.setMinimumHeight(30)
            button.clicked.connect(lambda _=False, k=key: self._on_key(k))
            pad.addWidget(button, i // 3, i % 3)
            self.key_buttons[key] = button
        layout.addLayout(pad)

        controls = QHBoxLayout()
        self.call_button = QPushButton("Call")
        self.call_button.setObjectName("callButton")
        self.answer_button = QPushButton("Answer")
        self.answer_button.setToolTip(
            "Answers a call handed off to a human: connect the Agent desk panel to a "
            "`workbench serve` and this rings when the AI escalates a caller"
        )
        self.hangup_button = QPushButton("Hang up")
        self.hangup_button.setObjectName("hangupButton")
        for button in (self.call_button, self.answer_button, self.hangup_button):
            button.setMinimumHeight(32)
            controls.addWidget(button)
        layout.addLayout(controls)
        toggles = QHBoxLayout()
        self.mute_button = QPushButton("Mute")
        self.mute_button.setCheckable(True)
        self.hold_button = QPushButton("Hold")
        self.hold_button.setCheckable(True)
        toggles.addWidget(self.mute_button)
        toggles.addWidget(self.hold_button)
        layout.addLayout(toggles)

        say_box = QGroupBox("Caller says")
        say_layout = QVBoxLayout(say_box)
        self.voice_combo = QComboBox()
        self.voice_combo.addItems(voices)
        self.say_edit = QLineEdit()
        self.say_edit.setPlaceholderText("Type what the caller says, press Enter")
        say_row = QHBoxLayout()
        self.say_button = QPushButton("Say")
        self.wav_button = QPushButton("Play WAV…")
        say_row.addWidget(self.say_edit, 1)
        say_row.addWidget(self.say_button)
        voice_row = QHBoxLayout()
        voice_row.addWidget(QLabel("Voice"))
        voice_row.addWidget(self.voice_combo, 1)
        voice_row.addWidget(self.wav_button)
        say_layout.addLayout(say_row)
        say_layout.addLayout(voice_row)
        layout.addWidget(say_box)

        audio_box = QGroupBox("Audio")
        audio_form = QFormLayout(audio_box)
        self.mic_combo = QComboBox()
        self.speaker_combo = QComboBox()
        self.mic_combo.addItem("(none: typed or WAV)", None)
        self.speaker_combo.addItem("(none: meter only)", None)
        for index, name in devices.inputs:
            self.mic_combo.addItem(name, index)
        for index, name in devices.outputs:
            self.speaker_combo.addItem(name, index)
        self.mic_meter = _meter()
        self.speaker_meter = _meter()
        audio_form.addRow("Microphone", self.mic_combo)
        audio_form.addRow("", self.mic_meter)
        audio_form.addRow("Speaker", self.speaker_combo)
        audio_form.addRow("", self.speaker_meter)
        if not devices.available:
            note = QLabel("No audio devices: type what the caller says, or play a WAV file.")
            note.setWordWrap(True)
            audio_form.addRow(note)
            self.mic_combo.setEnabled(False)
            self.speaker_combo.setEnabled(False)
        layout.addWidget(audio_box)
        layout.addStretch(1)

        self.call_button.clicked.connect(self.place_call)
        self.answer_button.clicked.connect(self.answer_requested)
        self.hangup_button.clicked.connect(self.hang_up)
        self.mute_button.toggled.connect(self._on_mute)
        self.hold_button.toggled.connect(self._on_hold)
        self.say_button.clicked.connect(self._on_say)
        self.say_edit.returnPressed.connect(self._on_say)
        self.wav_button.clicked.connect(self._on_wav)
        self.remote_radio.toggled.connect(self._update_controls)
        self.ear_combo.currentTextChanged.connect(self._on_ear)
        bridge.call_state_changed.connect(self._on_call_state)
        bridge.levels.connect(self._on_levels)
        bridge.runtime_ready.connect(self._on_runtime_ready)
        self._update_remote_note()
        self._on_call_state(msg.IDLE, "loading the agent…")

    # commands -----------------------------------------------------------------------------
    @Slot()
    def place_call(self) -> None:
        if self.state in (msg.RINGING, msg.CONNECTED, msg.ON_HOLD) or not self.ready:
            return
        url = None
        if self.remote_radio.isChecked():
            url = self.url_edit.text().strip()
            if not url.startswith(("ws://", "wss://")):
                self.remote_note.setText("Enter the agent's ws:// or wss:// Media Streams URL.")
                return
        self._start_audio()
        self.handle.place_call(
            CallOptions(
                number=self.number_edit.text().strip() or "+14155550199",
                caller_voice=self.voice_combo.currentText(),
                target_url=url,
                ear=self.ear,
            )
        )

    @property
    def ear(self) -> str:
        """The ear the next local call listens with."""
        return self.ear_combo.currentText()

    @Slot()
    def hang_up(self) -> None:
        if self.state in (msg.RINGING, msg.CONNECTED, msg.ON_HOLD):
            self.handle.hang_up()

    @Slot()
    def toggle_mute(self) -> None:
        self.mute_button.toggle()

    def say(self, text: str) -> None:
        self.handle.say(text)

    def _start_audio(self) -> None:
        mic, speaker = self.mic_combo.currentData(), self.speaker_combo.currentData()
        if self.devices.available and (mic is not None or speaker is not None):
            from workbench.ui.audio_io import SoundcardAudio

            self.handle.audio = SoundcardAudio(
                mic, speaker, lambda db: self.bridge.post_level("microphone", db)
            )
        else:
            self.handle.audio = None

    # slots --------------------------------------------------------------------------------
    @Slot(object)
    def _on_runtime_ready(self, ready: msg.RuntimeReady) -> None:
        self.ready = not ready.error
        if ready.voices:
            current = self.voice_combo.currentText()
            self.voice_combo.clear()
            self.voice_combo.addItems(list(ready.voices))
            if current in ready.voices:
                self.voice_combo.setCurrentText(current)
        if ready.ear and not self._ear_from_flag:
            with QSignalBlocker(self.ear_combo):  # (prepared just below)
                self.ear_combo.setCurrentText(ready.ear)  # the agent's own choice, unless --ear
        if self.ready:
            self.handle.prepare_ear(self.ear)
            self._on_call_state(msg.IDLE, f"ready: {ready.agent_name}")
        else:
            self._on_call_state(msg.IDLE, "the agent failed to load")

    @Slot(str, str)
    def _on_call_state(self, state: str, detail: str) -> None:
        self.state = state
        colour = STATE_COLOURS.get(state, "#6b7280")
        title = state.capitalize() if state != msg.IDLE else "Idle"
        text = f"<b style='font-size:13pt; color:{colour}'>{title}</b>"
        if detail:
            text += f"<br><span style='font-size:9pt'>{detail.replace('_', ' ')}</span>"
        self.state_label.setText(text)  # colour in the HTML: a per-state stylesheet re-polishes
        if state in (msg.ENDED, msg.IDLE):
            self.mute_button.setChecked(False)
            self.hold_button.setChecked(False)
        self._update_controls()
        self.state_changed.emit(state)

    @Slot(str)
    def _on_ear(self, ear: str) -> None:
        if self.ready:
            self.handle.prepare_ear(ear)

    @Slot(float, float)
    def _on_levels(self, mic_db: float, speaker_db: float) -> None:
        self.mic_meter.setValue(int(mic_db + 90))
        self.speaker_meter.setValue(int(speaker_db + 90))

    def _on_key(self, key: str) -> None:
        if self.state in (msg.CONNECTED, msg.ON_HOLD):
            self.handle.press(key)
        else:
            self.number_edit.insert(key)

    @Slot(bool)
    def _on_mute(self, muted: bool) -> None:
        self.handle.set_muted(muted)
        self.mute_button.setText("Unmute" if muted else "Mute")
        self._update_controls()  # a muted caller says nothing, typed or played

    @Slot(bool)
    def _on_hold(self, on_hold: bool) -> None:
        if self.state in (msg.CONNECTED, msg.ON_HOLD):
            self.handle.set_on_hold(on_hold)
        self.hold_button.setText("Resume" if on_hold else "Hold")

    @Slot()
    def _on_say(self) -> None:
        text = self.say_edit.text().strip()
        if text and self.say_edit.isEnabled():
            self.say(text)
            self.say_edit.clear()

    @Slot()
    def _on_wav(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Play a WAV file", "", "WAV files (*.wav)")
        if path:
            self.handle.play_wav(Path(path))

    def _update_remote_note(self) -> None:
        if telephony_client_available():
            self.remote_note.setText(
                "A deployed agent is called over Twilio Media Streams; its decisions stay "
                "on its server, so only the caller's side (transcript of what you said, "
                "reply latency) shows here."
            )
        else:
            self.remote_note.setText(
                "Calling a deployed agent is not available yet: the WebSocket client "
                "(workbench.telephony.caller.client) is not in this build."
            )
            self.remote_radio.setEnabled(False)
            self.url_edit.setEnabled(False)

    @Slot(int)
    def set_calls_waiting(self, count: int) -> None:
        """Calls handed off to a human wait at the agent desk: Answer rings (is enabled)."""
        self.calls_waiting = count
        self.answer_button.setText(f"Answer ({count})" if count else "Answer")
        self._update_controls()

    @Slot()
    def _update_controls(self) -> None:
        live = self.state in (msg.CONNECTED, msg.ON_HOLD)
        busy = self.state in (msg.RINGING, msg.CONNECTED, msg.ON_HOLD)
        self.call_button.setEnabled(self.ready and not busy)
        self.answer_button.setEnabled(self.calls_waiting > 0)
        self.hangup_button.setEnabled(busy)
        self.mute_button.setEnabled(live)
        self.hold_button.setEnabled(live)
        speaking = live and not self.mute_button.isChecked() and self.state != msg.ON_HOLD
        self.say_button.setEnabled(speaking)
        self.say_edit.setEnabled(speaking)
        self.wav_button.setEnabled(speaking)
        self.voice_combo.setEnabled(not busy)
        # A call listens with one ear throughout; a deployed agent's server chooses its own.
        self.ear_combo.setEnabled(not busy and not self.remote_radio.isChecked())


def _meter() -> QProgressBar:
    meter = QProgressBar()
    meter.setRange(0, 90)
    meter.setValue(0)
    meter.setTextVisible(False)
    meter.setMaximumHeight(10)
    return meter
