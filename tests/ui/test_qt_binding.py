"""The installed Qt binding keeps Python's reference counts straight.

PySide6 6.12.0 (its cp310-abi3 wheel) on Python < 3.12, where None and True are not immortal,
returns None from void methods and True from `Signal.emit` without a reference of its own:
every call leaves one fewer, and live pyqtgraph charts (thousands of such calls a minute)
abort the app with "deallocating None". pyproject.toml excludes that release; this test
catches it, or a release like it, wherever it gets installed anyway.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, QTimer, Signal


class Probe(QObject):
    ping = Signal()


def test_void_methods_and_signal_emits_do_not_leak_references_to_none_or_true():
    timer, probe = QTimer(), Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for _ in range(1000):
        timer.stop()
        probe.ping.emit()
    # (Other code may take a few references meanwhile; the bug loses one per call.)
    assert sys.getrefcount(None) > none_before - 100
    assert sys.getrefcount(True) > true_before - 100
