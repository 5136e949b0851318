"""The network panel: delay, jitter, loss and burstiness of the caller's leg, applied live."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from workbench.audio.network import PRESETS, GilbertElliott, NetworkConditions
from workbench.engine.trace import TurnTimeline
from workbench.ui.bridge import EngineBridge
from workbench.ui.engine_handle import EngineHandle


class NetworkPanel(QWidget):
    """Each slider move builds new `NetworkConditions` and hands them to the engine at once."""

    conditions_changed = Signal(object)

    def __init__(
        self, bridge: EngineBridge, handle: EngineHandle, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.handle = handle
        self.conditions = NetworkConditions.clean()
        self.preset_combo = QComboBox()
        self.preset_combo.addItem("custom")
        self.preset_combo.addItems(list(PRESETS))
        self.delay = _slider(0, 600, 0)
        self.jitter = _slider(0, 150, 0)
        self.loss = _slider(0, 200, 0)  # tenths of a percent
        self.burst = _slider(10, 100, 10)  # mean burst length in tenths of a frame
        self.delay_value = QLabel()
        self.jitter_value = QLabel()
        self.loss_value = QLabel()
        self.burst_value = QLabel()
        form = QFormLayout()
        form.addRow("Preset", self.preset_combo)
        form.addRow("Delay (one way)", _row(self.delay, self.delay_value))
        form.addRow("Jitter", _row(self.jitter, self.jitter_value))
        form.addRow("Packet loss", _row(self.loss, self.loss_value))
        form.addRow("Burstiness", _row(self.burst, self.burst_value))
        self.lane_label = QLabel("The caller leg's lane appears in the waterfall after a turn.")
        self.lane_label.setWordWrap(True)
        note = QLabel(
            "Applied to the caller's leg (both directions) from the next 20 ms frame of a "
            "live call, and to every later call. Burstiness is the mean loss-burst length "
            "(Gilbert–Elliott); at 1 frame losses are independent."
        )
        note.setWordWrap(True)
        note.setStyleSheet("color: #6b7280;")
        controls = QWidget()
        controls.setMaximumWidth(620)
        controls.setLayout(form)
        side = QVBoxLayout()
        side.addWidget(note)
        side.addWidget(self.lane_label)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(controls, 3)
        row.addSpacing(16)
        row.addLayout(side, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(row)
        layout.addStretch(1)
        for slider in (self.delay, self.jitter, self.loss, self.burst):
            slider.valueChanged.connect(self._on_slider)
        self.preset_combo.currentTextChanged.connect(self._on_preset)
        bridge.turn_completed.connect(self._on_turn)
        self._update_labels()

    def set_values(self, *, delay_ms=None, jitter_ms=None, loss=None, mean_burst=None) -> None:
        """Move the sliders (as a user would) — each move applies the conditions."""
        if delay_ms is not None:
            self.delay.setValue(int(delay_ms))
        if jitter_ms is not None:
            self.jitter.setValue(int(jitter_ms))
        if loss is not None:
            self.loss.setValue(int(round(loss * 1000)))
        if mean_burst is not None:
            self.burst.setValue(int(round(mean_burst * 10)))

    def build_conditions(self) -> NetworkConditions:
        loss = self.loss.value() / 1000.0
        mean_burst = self.burst.value() / 10.0
        bursty = loss > 0 and mean_burst > 1.0
        return NetworkConditions(
            delay_ms=float(self.delay.value()),
            jitter_ms=float(self.jitter.value()),
            loss=0.0 if bursty else loss,
            burst=GilbertElliott.from_loss_rate(loss, mean_burst) if bursty else None,
        )

    @Slot()
    def _on_slider(self) -> None:
        self.preset_combo.blockSignals(True)
        self.preset_combo.setCurrentText("custom")
        self.preset_combo.blockSignals(False)
        self._apply(self.build_conditions())

    @Slot(str)
    def _on_preset(self, name: str) -> None:
        if name not in PRESETS:
            return
        preset = PRESETS[name]
        for slider in (self.delay, self.jitter, self.loss, self.burst):
            slider.blockSignals(True)
        self.delay.setValue(int(preset.delay_ms))
        self.jitter.setValue(int(preset.jitter_ms))
        loss = preset.burst.loss_rate if preset.burst is not None else preset.loss
        self.loss.setValue(int(round(loss * 1000)))
        mean_burst = 1.0 / preset.burst.p_bad_to_good if preset.burst is not None else 1.0
        self.burst.setValue(int(round(mean_burst * 10)))
        for slider in (self.delay, self.jitter, self.loss, self.burst):
            slider.blockSignals(False)
        self._apply(preset)

    def _apply(self, conditions: NetworkConditions) -> None:
        self.conditions = conditions
        self.handle.set_network(conditions)
        self._update_labels()
        self.conditions_changed.emit(conditions)

    def _update_labels(self) -> None:
        self.delay_value.setText(f"{self.delay.value()} ms")
        self.jitter_value.setText(f"{self.jitter.value()} ms")
        self.loss_value.setText(f"{self.loss.value() / 10:.1f} %")
        self.burst_value.setText(f"{self.burst.value() / 10:.1f} frames")

    @Slot(int, object)
    def _on_turn(self, turn: int, timeline: TurnTimeline) -> None:
        if turn == 0:
            return
        lanes = [lane for lane in timeline.lanes if lane.owner_kind == "network"]
        text = ", ".join(f"{lane.name} {lane.duration_ms:.0f} ms" for lane in lanes)
        self.lane_label.setText(f"Turn {turn}: {text or 'no network lane'}")


def _slider(low: int, high: int, value: int) -> QSlider:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(value)
    slider.setMinimumWidth(160)
    return slider


def _row(slider: QSlider, label: QLabel) -> QWidget:
    label.setMinimumWidth(72)
    widget = QWidget()
    layout = QHBoxLayout(widget)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(slider, 1)
    layout.addWidget(label)
    return widget
