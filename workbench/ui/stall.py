"""A stall monitor for the GUI thread: how late does a 10 ms timer fire, at worst?

If anything blocks the event loop (a slow slot, a long paint), the next tick comes late; the
lateness beyond the interval is the stall. `worst_ms` is what `workbench gui --smoke` reports.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer

TICK_MS = 10


class StallMonitor(QObject):
    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worst_ms = 0.0
        self.ticks = 0
        self._last: float | None = None
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = None
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def reset(self) -> None:
        self.worst_ms = 0.0
        self.ticks = 0
        self._last = None

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            late = (now - self._last) * 1000.0 - TICK_MS
            self.worst_ms = max(self.worst_ms, late)
        self._last = now
        self.ticks += 1
