"""The one door between the engine's threads and the GUI thread.

Engine threads call `post(item)` (a `queue.SimpleQueue` put: thread-safe, never blocks) and
`post_level(name, dbfs)` (a plain dict store: the latest value wins, so 50 levels a second cost
one signal per drain). A `QTimer` on the GUI thread drains the queue every ~30 ms and emits a
typed signal per item, so every widget slot runs on the GUI thread (Friture's display timer).
"""

from __future__ import annotations

import logging
import queue
import time
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from workbench.engine import events as ev
from workbench.ui import messages as msg

log = logging.getLogger(__name__)

DRAIN_INTERVAL_MS = 30
MAX_ITEMS_PER_DRAIN = 500
DRAIN_BUDGET_MS = 12.0  # a burst (a virtual-time call) is spread over ticks, not one long stall


class EngineBridge(QObject):
    """Engine → GUI: typed signals, always emitted on the GUI thread."""

    engine_event = Signal(object)  # any workbench.engine.events.Event
    turn_completed = Signal(int, object)  # turn, TurnTimeline
    call_state_changed = Signal(str, str)  # state (messages.RINGING, ...), detail
    call_finished = Signal(object)  # messages.CallFinished
    runtime_ready = Signal(object)  # messages.RuntimeReady
    crm_updated = Signal(object)  # messages.CrmUpdate
    scenario_suite = Signal(object)  # messages.ScenarioSuite
    scenario_started = Signal(str)  # path
    scenario_finished = Signal(object)  # messages.ScenarioFinished
    agent_reloaded = Signal(object)  # messages.AgentReloaded
    agent_validated = Signal(object)  # messages.AgentValidated
    remote_progress = Signal(object)  # messages.RemoteProgress
    status_note = Signal(str)
    desk_message = Signal(object)  # messages.DeskMessage
    levels = Signal(float, float)  # microphone dBFS, speaker dBFS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._levels: dict[str, float] = {}
        self._levels_shown: tuple[float, float] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self.drain)
        self._timer.start()
        self.drained = 0
        self.worst_drain_ms = 0.0
        self.slowest_item: tuple[str, float] = ("", 0.0)

    # any thread ---------------------------------------------------------------------------
    def post(self, item: Any) -> None:
        self._queue.put(item)

    def post_level(self, name: str, dbfs: float) -> None:
        self._levels[name] = dbfs

    # GUI thread ---------------------------------------------------------------------------
    def stop(self) -> None:
        self._timer.stop()
        self.drain()

    def drain(self) -> None:
        started = time.perf_counter()
        for _ in range(MAX_ITEMS_PER_DRAIN):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            item_started = time.perf_counter()
            try:
                self._dispatch(item)
            except Exception:  # a view's bug must not stop the drain (and with it the app)
                log.exception("handling %s failed", type(item).__name__)
            self.drained += 1
            spent = (time.perf_counter() - item_started) * 1000
            if spent > self.slowest_item[1]:
                self.slowest_item = (type(item).__name__, spent)
            if (time.perf_counter() - started) * 1000 > DRAIN_BUDGET_MS:
                break
        levels = (self._levels.get("microphone", -90.0), self._levels.get("speaker", -90.0))
        if levels != self._levels_shown:
            self._levels_shown = levels
            self.levels.emit(*levels)
        self.worst_drain_ms = max(self.worst_drain_ms, (time.perf_counter() - started) * 1000)

    def _dispatch(self, item: Any) -> None:
        if isinstance(item, ev.Event):
            self.engine_event.emit(item)
            if isinstance(item, ev.TurnCompleted) and item.timeline is not None:
                self.turn_completed.emit(item.turn, item.timeline)
        elif isinstance(item, msg.CallStateChanged):
            self.call_state_changed.emit(item.state, item.detail)
        elif isinstance(item, msg.CallFinished):
            self.call_finished.emit(item)
        elif isinstance(item, msg.RuntimeReady):
            self.runtime_ready.emit(item)
        elif isinstance(item, msg.CrmUpdate):
            self.crm_updated.emit(item)
        elif isinstance(item, msg.ScenarioSuite):
            self.scenario_suite.emit(item)
        elif isinstance(item, msg.ScenarioStarted):
            self.scenario_started.emit(item.path)
        elif isinstance(item, msg.ScenarioFinished):
            self.scenario_finished.emit(item)
        elif isinstance(item, msg.AgentReloaded):
            self.agent_reloaded.emit(item)
        elif isinstance(item, msg.AgentValidated):
            self.agent_validated.emit(item)
        elif isinstance(item, msg.RemoteProgress):
            self.remote_progress.emit(item)
        elif isinstance(item, msg.StatusNote):
            self.status_note.emit(item.text)
        elif isinstance(item, msg.DeskMessage):
            self.desk_message.emit(item)
        else:
            log.warning("bridge dropped an unknown item %r", type(item).__name__)
