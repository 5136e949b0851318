"""The scenario panel: the suite with tags; run one, the selection or all; pass/fail and why."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.bridge import EngineBridge
from workbench.ui.engine_handle import EngineHandle
from workbench.ui.messages import ScenarioFinished, ScenarioSuite

PATH_ROLE = Qt.ItemDataRole.UserRole


class ScenarioPanel(QWidget):
    """`open_call(call, turn)` asks the window to show a scenario's call at its failing turn."""

    open_call = Signal(object, object)

    def __init__(
        self,
        bridge: EngineBridge,
        handle: EngineHandle,
        scenario_dir: Path,
        parent: QWidget | None = None,
        *,
        load_now: bool = True,
    ) -> None:
        super().__init__(parent)
        self.handle = handle
        self.scenario_dir = scenario_dir
        self.results: dict[str, ScenarioFinished] = {}
        self.suite_loaded = False
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Scenario", "Tags", "Result", "Why"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.header().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.detail = QPlainTextEdit()
        self.detail.setReadOnly(True)
        self.detail.setMaximumHeight(84)
        self.detail.setPlaceholderText("Select a scenario to see its result and evidence.")
        self.run_button = QPushButton("Run selected")
        self.run_all_button = QPushButton("Run all")
        self.rerun_button = QPushButton("Re-run failed")
        self.open_button = QPushButton("Open failing turn")
        self.reload_button = QPushButton("Reload list")
        self.summary = QLabel()
        buttons = QHBoxLayout()
        for button in (
            self.run_button,
            self.run_all_button,
            self.rerun_button,
            self.open_button,
            self.reload_button,
        ):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(buttons)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.detail)

        self.run_button.clicked.connect(self.run_selected)
        self.run_all_button.clicked.connect(self.run_all)
        self.rerun_button.clicked.connect(self.rerun_failed)
        self.open_button.clicked.connect(self._on_open)
        self.reload_button.clicked.connect(self.load_suite)
        self.tree.itemSelectionChanged.connect(self._on_selection)
        self.tree.itemDoubleClicked.connect(lambda *_: self._on_open())
        bridge.scenario_suite.connect(self._on_suite)
        bridge.scenario_started.connect(self._on_started)
        bridge.scenario_finished.connect(self._on_finished)
        if load_now:
            self.load_suite()

    # suite --------------------------------------------------------------------------------
    @Slot()
    def load_suite(self) -> None:
        """Ask for the suite (parsed on a helper thread); `_on_suite` fills the list."""
        self.summary.setText("loading the suite…")
        self.handle.list_scenarios(self.scenario_dir)

    @Slot(object)
    def _on_suite(self, suite: ScenarioSuite) -> None:
        self.tree.clear()
        if suite.error:
            self.summary.setText(suite.error)
            return
        for path, name, tags, description, problem in suite.entries:
            why = problem or description
            item = QTreeWidgetItem([name, tags, "invalid" if problem else "", why])
            item.setData(0, PATH_ROLE, path)
            item.setToolTip(3, why)
            if problem:
                item.setForeground(2, QBrush(QColor("#dc2626")))
            self.tree.addTopLevelItem(item)
        for column in range(3):
            self.tree.resizeColumnToContents(column)
        self.suite_loaded = True
        self._update_summary()

    def items(self) -> list[QTreeWidgetItem]:
        return [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]

    def item_for(self, path: str) -> QTreeWidgetItem | None:
        return next((i for i in self.items() if i.data(0, PATH_ROLE) == path), None)

    # commands -----------------------------------------------------------------------------
    @Slot()
    def run_selected(self) -> None:
        self._run([i.data(0, PATH_ROLE) for i in self.tree.selectedItems()])

    @Slot()
    def run_all(self) -> None:
        self._run([i.data(0, PATH_ROLE) for i in self.items()])

    @Slot()
    def rerun_failed(self) -> None:
        self._run([p for p, r in self.results.items() if not r.passed])

    def _run(self, paths: list[str]) -> None:
        for path in paths:
            item = self.item_for(path)
            if item is not None:
                _set_result(item, "queued", "#6b7280")
        if paths:
            self.handle.run_scenarios([Path(p) for p in paths])

    # results ------------------------------------------------------------------------------
    @Slot(str)
    def _on_started(self, path: str) -> None:
        item = self.item_for(path)
        if item is not None:
            _set_result(item, "running…", "#d97706")

    @Slot(object)
    def _on_finished(self, result: ScenarioFinished) -> None:
        self.results[result.path] = result
        item = self.item_for(result.path)
        if item is not None:
            if result.passed:
                _set_result(item, "pass", "#15803d")
                item.setText(3, _call_line(result))
            else:
                _set_result(item, "FAIL", "#dc2626")
                why = result.error or result.failure
                if result.evidence:
                    why += f" — {result.evidence}"
                item.setText(3, why)
                item.setToolTip(3, why)
        self._update_summary()
        self._on_selection()

    def _update_summary(self) -> None:
        passed = sum(1 for r in self.results.values() if r.passed)
        failed = len(self.results) - passed
        self.summary.setText(
            f"{self.tree.topLevelItemCount()} scenarios · {passed} passed · {failed} failed"
        )

    def selected_result(self) -> ScenarioFinished | None:
        items = self.tree.selectedItems()
        if not items:
            return None
        return self.results.get(items[0].data(0, PATH_ROLE))

    @Slot()
    def _on_selection(self) -> None:
        result = self.selected_result()
        if result is None:
            self.detail.clear()
            self.open_button.setEnabled(False)
            return
        lines = [f"{result.name}: {'passed' if result.passed else 'FAILED'}"]
        if result.error:
            lines.append(f"error: {result.error}")
        if result.failure:
            lines.append(f"failing expectation: {result.failure}")
        if result.evidence:
            lines.append(f"evidence: {result.evidence}")
        if result.failing_turn is not None:
            lines.append(f"failing turn: {result.failing_turn}")
        if result.call is not None:
            lines.append(_call_line(result))
        self.detail.setPlainText("\n".join(lines))
        self.open_button.setEnabled(result.call is not None)
        self.open_button.setText("Open failing turn" if not result.passed else "Open call")

    @Slot()
    def _on_open(self) -> None:
        result = self.selected_result()
        if result is not None and result.call is not None:
            self.open_call.emit(result.call, result.failing_turn)


def _call_line(result: ScenarioFinished) -> str:
    call = result.call
    if call is None:
        return ""
    turns = [t.total_ms for t in call.timelines if t.turn > 0]
    worst = f", slowest turn {max(turns):.0f} ms" if turns else ""
    return (
        f"{len(turns)} turns, {call.duration_ms / 1000:.1f} s of call in {call.wall_s:.1f} s"
        f"{worst}, ended: {call.end_reason}"
    )


def _set_result(item: QTreeWidgetItem, text: str, colour: str) -> None:
    item.setText(2, text)
    item.setForeground(2, QBrush(QColor(colour)))
