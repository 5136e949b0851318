"""The main window: softphone, live transcript, latency waterfall, decision inspector, and the
CRM, scenario, network, agent and load panels, all fed by one `EngineBridge`.

The window owns the bridge and the `EngineHandle`; panels get what they need in their
constructors and subscribe to the bridge themselves. Nothing here blocks: the engine's work
runs on the handle's threads.

Fitting the screen: the window opens on the screen's available area (up to `PREFERRED_SIZE`),
or as the user last left it; every dock's panel sits in a scroll area, so a panel taller or
wider than its dock scrolls instead of forcing the window past the screen, and the bottom
panels are tabs of one dock area. The smallest window (`MINIMUM_SIZE`) fits a 1280×720 screen with
a taskbar and a title bar, at 100 % scaling and on a 1920×1080 screen at 150 %.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QPoint, QRect, QSettings, QSize, Qt, Slot
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QWidget,
)

from workbench.engine import events as ev
from workbench.paths import DEMO_AGENT_DIR, SCENARIOS_DIR, workbench_home
from workbench.ui import messages as msg
from workbench.ui.audio_io import AudioDevices, probe_devices
from workbench.ui.bridge import EngineBridge
from workbench.ui.call_model import call_finished_text
from workbench.ui.engine_handle import EngineHandle
from workbench.ui.views.agent_editor import AgentPanel
from workbench.ui.views.analytics import AnalyticsPanel
from workbench.ui.views.crm import CrmPanel
from workbench.ui.views.desk import AgentDeskPanel
from workbench.ui.views.inspector import InspectorView, LiveCall
from workbench.ui.views.load import LoadPanel
from workbench.ui.views.network import NetworkPanel
from workbench.ui.views.scenarios import ScenarioPanel
from workbench.ui.views.softphone import SoftphonePanel
from workbench.ui.views.transcript import TranscriptView
from workbench.ui.views.waterfall import WaterfallView

log = logging.getLogger(__name__)

SHORTCUTS = {"call": "Ctrl+Return", "hang_up": "Ctrl+E", "mute": "Ctrl+M"}

# The window's size on a screen with room for it; a smaller screen gets its available area.
PREFERRED_SIZE = QSize(1440, 900)
# The smallest window: it fits 1280×720 (and 1366×768 at 125 % scaling: 1093×614) minus a
# taskbar (up to 48 px) and a title bar (up to 40 px).
MINIMUM_SIZE = QSize(900, 520)
# A window manager's title bar and borders, not known before the window is first shown.
FRAME_ALLOWANCE = QSize(16, 40)
# Dock panels' least sizes (the rest of each panel scrolls): wide enough for the softphone's
# controls and the inspector's turn list, tall enough for the bottom panels' buttons and a list.
SIDE_DOCK_MIN_WIDTH = {"Softphone": 250, "Decision inspector": 220}
BOTTOM_DOCK_MIN_HEIGHT = 130
WATERFALL_MIN_HEIGHT = 190


def settings_store() -> QSettings:
    """The app's settings: an INI file under `workbench_home()` (tests get a temp home)."""
    return QSettings(str(workbench_home() / "gui.ini"), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(
        self,
        runtime: object | None = None,
        *,
        agent_path: str | Path | None = None,
        scenario_dir: Path = SCENARIOS_DIR,
        crm: bool = True,
        devices: AudioDevices | None = None,
        settings: QSettings | None = None,
        load_now: bool = True,
        ear: str | None = None,
    ) -> None:
        """`load_now=False`: the caller calls `start_loading()` itself (the agent, the CRM and
        the scenario suite load on threads), e.g. once the window is on screen, so their
        imports and parsing do not compete with the first paint for the GIL. `ear`: the
        softphone's ear to start with (`--ear`; None: the agent's, else accurate)."""
        super().__init__()
        self.setWindowTitle("Voice Agent Workbench")
        self.settings = settings or settings_store()
        agent_path = Path(agent_path or self.settings.value("agent/path", str(DEMO_AGENT_DIR)))
        if not (agent_path / "agent.yaml").is_file():
            agent_path = DEMO_AGENT_DIR
        self.bridge = EngineBridge(self)
        voices = [str(self.settings.value("softphone/voice", "piper:joe"))]
        self.handle = EngineHandle(
            runtime,  # None: the engine thread creates a CallRuntime (heavy imports) itself
            self.bridge.post,
            agent_path=agent_path,
            post_level=self.bridge.post_level,
            crm=crm,
            preload_voices=tuple(voices) if runtime is None else (),
        )
        self.devices = devices if devices is not None else probe_devices()
        self.live = LiveCall(self.bridge, self)
        self.softphone = SoftphonePanel(self.bridge, self.handle, self.devices, voices, ear=ear)
        self.transcript = TranscriptView(self.bridge)
        budget = float(self.settings.value("latency/budget_ms", 1200.0))
        self.waterfall = WaterfallView(self.bridge, budget_ms=budget)
        self.inspector = InspectorView(self.live)
        self.crm_panel = CrmPanel(self.bridge)
        self.scenarios = ScenarioPanel(self.bridge, self.handle, scenario_dir, load_now=False)
        self.network = NetworkPanel(self.bridge, self.handle)
        self.agent_panel = AgentPanel(self.bridge, self.handle, agent_path)
        self.load_panel = LoadPanel()
        self.analytics = AnalyticsPanel(self.bridge)
        self.desk = AgentDeskPanel(
            self.bridge, url=str(self.settings.value("desk/url", "ws://127.0.0.1:8080/agent"))
        )
        self.desk.name_edit.setText(str(self.settings.value("desk/name", "Sam")))

        # The side docks run the full height; the bottom panels sit under the centre only.
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        # The waterfall's one-line summary and legend wrap rather than widen the window.
        for label in (self.waterfall.summary_label, self.waterfall.legend_label):
            label.setWordWrap(True)
        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(_titled("Live transcript", self.transcript))
        centre.addWidget(_titled("Latency waterfall", self.waterfall))
        # On a short screen the waterfall keeps room for its rows; the transcript scrolls.
        centre.widget(1).setMinimumHeight(WATERFALL_MIN_HEIGHT)
        centre.setChildrenCollapsible(False)
        centre.setSizes([330, 300])
        self.setCentralWidget(centre)
        self.docks: dict[str, QDockWidget] = {}
        self._dock("Softphone", self.softphone, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._dock("Decision inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        bottom = [
            ("Scenarios", self.scenarios),
            ("CRM", self.crm_panel),
            ("Network", self.network),
            ("Agent", self.agent_panel),
            ("Load", self.load_panel),
            ("Analytics", self.analytics),
            ("Agent desk", self.desk),
        ]
        for title, widget in bottom:
            self._dock(title, widget, Qt.DockWidgetArea.BottomDockWidgetArea)
        for (first, _), (second, _) in zip(bottom, bottom[1:], strict=False):
            self.tabifyDockWidget(self.docks[first], self.docks[second])
        self.docks["Scenarios"].raise_()
        self._build_menus()

        self.agent_label = QLabel("loading the agent…")
        self.statusBar().addPermanentWidget(self.agent_label)
        self.audio_label = QLabel()
        if not self.devices.available:
            # Said once, and kept in view: typed lines and WAV files are how to talk.
            self.audio_label.setText("No audio devices: typed and WAV calls only")
            self.audio_label.setToolTip(self.devices.problem)
            self.statusBar().addPermanentWidget(self.audio_label)
            log.info("%s; typed and WAV calls still work", self.devices.problem)

        self.waterfall.turn_clicked.connect(self.inspector.show_turn)
        # The softphone's Answer takes a call handed off to a human at the agent desk.
        self.desk.waiting_changed.connect(self.softphone.set_calls_waiting)
        self.softphone.answer_requested.connect(self._answer_at_desk)
        self.scenarios.open_call.connect(self.show_call)
        self.bridge.runtime_ready.connect(self._on_runtime_ready)
        self.bridge.agent_reloaded.connect(self._on_agent_reloaded)
        self.bridge.status_note.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.bridge.call_finished.connect(self._on_call_finished)
        self.bridge.engine_event.connect(self._on_engine_event)
        self.setMinimumSize(MINIMUM_SIZE)
        self._docks_sized = False
        self.fit_to_screen()
        self._restore_settings()
        if load_now:
            self.start_loading()

    def start_loading(self) -> None:
        """Load the agent, open the CRM and read the scenario suite (all off this thread)."""
        self.handle.load()
        self.scenarios.load_suite()

    def fit_to_screen(self, available: QRect | None = None) -> None:
        """Size the window to the screen's available area (up to `PREFERRED_SIZE`), centred
        on it; `_restore_settings` then applies the user's own size, if any. The docks get
        their share of it when the window is first shown (so a caller's own `resize` before
        `show` counts), or at once when it is already on screen."""
        if available is None:
            screen = self.screen() or QGuiApplication.primaryScreen()
            available = screen.availableGeometry() if screen else QRect(QPoint(), PREFERRED_SIZE)
        room = available.size() - FRAME_ALLOWANCE
        size = room.boundedTo(PREFERRED_SIZE).expandedTo(MINIMUM_SIZE)
        self.resize(size)
        spare = available.size() - size - FRAME_ALLOWANCE
        self.move(
            available.x() + max(0, spare.width() // 2), available.y() + max(0, spare.height() // 2)
        )
        if self.isVisible():
            self.size_docks(size)

    def size_docks(self, size: QSize) -> None:
        """The softphone as wide as its controls, the inspector a quarter of the window, the
        bottom panels a third of its height (each within bounds)."""
        phone = self.docks["Softphone"].widget().minimumWidth()
        inspector = max(
            self.docks["Decision inspector"].widget().minimumWidth(),
            min(400, size.width() // 4),
        )
        bottom = max(BOTTOM_DOCK_MIN_HEIGHT + 40, min(250, size.height() * 3 // 10))
        self.resizeDocks(
            [self.docks["Softphone"], self.docks["Decision inspector"]],
            [phone, inspector],
            Qt.Orientation.Horizontal,
        )
        self.resizeDocks([self.docks["Scenarios"]], [bottom], Qt.Orientation.Vertical)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if not self._docks_sized:  # first shown, and no dock sizes of the user's to restore
            self._docks_sized = True
            self.size_docks(self.size())

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title}")
        # The panel scrolls when its dock is smaller than it (a laptop screen, a big font).
        scroll = QScrollArea()
        scroll.setObjectName(f"scroll-{title}")
        scroll.setWidget(widget)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        if title in SIDE_DOCK_MIN_WIDTH:
            # Side panels scroll up and down only: as wide as their controls need.
            need = widget.minimumSizeHint().width() + _scrollbar_extent(widget)
            scroll.setMinimumWidth(max(SIDE_DOCK_MIN_WIDTH[title], need))
        else:
            scroll.setMinimumHeight(BOTTOM_DOCK_MIN_HEIGHT)
        dock.setWidget(scroll)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        return dock

    def _build_menus(self) -> None:
        call_menu = self.menuBar().addMenu("&Call")
        for name, label, slot in (
            ("call", "Call", self.softphone.place_call),
            ("hang_up", "Hang up", self.softphone.hang_up),
            ("mute", "Mute / unmute", self.softphone.toggle_mute),
        ):
            action = QAction(label, self)
            action.setShortcut(QKeySequence(SHORTCUTS[name]))
            action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            action.triggered.connect(slot)
            call_menu.addAction(action)
            self.addAction(action)
        view_menu = self.menuBar().addMenu("&View")
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())

    # GUI-thread slots ---------------------------------------------------------------------
    @Slot(object)
    def _on_runtime_ready(self, ready: msg.RuntimeReady) -> None:
        if ready.error:
            self.agent_label.setText("agent failed to load")
            self.statusBar().showMessage(f"agent failed to load: {ready.error}")
        else:
            self.agent_label.setText(f"agent: {ready.agent_name}")
            self.statusBar().showMessage(f"{ready.agent_name} is ready: press Call", 8000)

    @Slot(object)
    def _on_agent_reloaded(self, reloaded: msg.AgentReloaded) -> None:
        if not reloaded.error:
            self.agent_label.setText(f"agent: {reloaded.agent_name} (reloaded)")

    @Slot(object)
    @Slot()
    def _answer_at_desk(self) -> None:
        self.docks["Agent desk"].raise_()
        self.desk.answer()

    def _on_call_finished(self, finished: msg.CallFinished) -> None:
        self.statusBar().showMessage(call_finished_text(finished), 30000)

    @Slot(object)
    def _on_engine_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            self.waterfall.select_turn(None)

    def show_call(self, call: object, turn: int | None = None) -> None:
        """Show a finished call (a scenario's) in the transcript, waterfall and inspector."""
        events = list(call.events)  # type: ignore[attr-defined]
        self.transcript.load_events(events)
        self.live.load_events(events)
        self.waterfall.load_timelines(list(call.timelines))  # type: ignore[attr-defined]
        if turn is not None:
            self.waterfall.select_turn(turn)
            self.inspector.show_turn(turn)

    # settings -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = s.value("window/state")
        if state is not None:
            self._docks_sized = self.restoreState(state)
        number = s.value("softphone/number")
        if number:
            self.softphone.number_edit.setText(str(number))
        voice = s.value("softphone/voice")
        if voice:
            self.softphone.voice_combo.setCurrentText(str(voice))
        self.network.set_values(
            delay_ms=int(s.value("network/delay_ms", 0)),
            jitter_ms=int(s.value("network/jitter_ms", 0)),
            loss=float(s.value("network/loss", 0.0)),
            mean_burst=float(s.value("network/mean_burst", 1.0)),
        )

    def save_settings(self) -> None:
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("softphone/number", self.softphone.number_edit.text())
        s.setValue("softphone/voice", self.softphone.voice_combo.currentText())
        s.setValue("network/delay_ms", self.network.delay.value())
        s.setValue("network/jitter_ms", self.network.jitter.value())
        s.setValue("network/loss", self.network.loss.value() / 1000.0)
        s.setValue("network/mean_burst", self.network.burst.value() / 10.0)
        s.setValue("latency/budget_ms", self.waterfall.budget_ms)
        s.setValue("desk/url", self.desk.url_edit.text())
        s.setValue("desk/name", self.desk.name_edit.text())
        s.setValue("agent/path", str(self.agent_panel.path.parent))
        s.sync()

    def shutdown(self) -> None:
        """Save settings, end the call and join every engine thread (idempotent)."""
        if getattr(self, "_shut_down", False):
            return
        self._shut_down = True
        self.save_settings()
        self.load_panel.shutdown()
        self.desk.shutdown()
        self.handle.shutdown()
        self.bridge.stop()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)


def _scrollbar_extent(widget: QWidget) -> int:
    from PySide6.QtWidgets import QStyle

    return widget.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)


def _titled(title: str, widget: QWidget) -> QWidget:
    from PySide6.QtWidgets import QVBoxLayout

    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(6, 4, 6, 4)
    layout.setSpacing(2)
    label = QLabel(f"<b>{title}</b>")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box
