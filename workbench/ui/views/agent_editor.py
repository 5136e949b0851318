"""The agent panel: edit agent.yaml, see validation errors by line, save and hot-reload."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QColor, QFontDatabase, QTextCursor, QTextFormat
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.bridge import EngineBridge
from workbench.ui.engine_handle import EngineHandle
from workbench.ui.messages import AgentReloaded, AgentValidated

VALIDATE_AFTER_MS = 600  # validate once typing pauses


class AgentPanel(QWidget):
    def __init__(
        self,
        bridge: EngineBridge,
        handle: EngineHandle,
        agent_dir: Path,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.handle = handle
        self.path = agent_dir / "agent.yaml"
        self.problems: tuple[tuple[int | None, str], ...] = ()
        self.path_label = QLabel()
        self.open_button = QPushButton("Open…")
        self.save_button = QPushButton("Save and reload")
        self.revert_button = QPushButton("Revert")
        self.state_label = QLabel()
        self.editor = QPlainTextEdit()
        self.editor.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.errors = QListWidget()
        self.errors.setMaximumHeight(64)
        header = QHBoxLayout()
        header.addWidget(self.path_label, 1)
        header.addWidget(self.open_button)
        header.addWidget(self.revert_button)
        header.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(header)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.state_label)
        layout.addWidget(self.errors)
        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(VALIDATE_AFTER_MS)
        self._validate_timer.timeout.connect(self.validate)
        self.editor.textChanged.connect(self._validate_timer.start)
        self.open_button.clicked.connect(self._on_open)
        self.revert_button.clicked.connect(lambda: self.open_file(self.path))
        self.save_button.clicked.connect(self.save_and_reload)
        self.errors.itemActivated.connect(self._on_error_clicked)
        self.errors.itemClicked.connect(self._on_error_clicked)
        bridge.agent_validated.connect(self._on_validated)
        bridge.agent_reloaded.connect(self._on_reloaded)
        self.open_file(self.path)

    def open_file(self, path: Path) -> None:
        self.path = Path(path)
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as error:
            self.state_label.setText(f"cannot read {self.path}: {error.strerror}")
            return
        self.editor.blockSignals(True)
        self.editor.setPlainText(text)
        self.editor.blockSignals(False)
        self.path_label.setText(f"<b>{self.path.parent.name}</b> — {self.path}")
        self._set_problems(())
        self.state_label.setText("Saved version loaded.")

    @Slot()
    def validate(self) -> None:
        self.handle.validate_agent(self.editor.toPlainText(), self.path)

    @Slot()
    def save_and_reload(self) -> None:
        """Save only a valid definition, then reload the agent in the running app."""
        if self.problems:
            self.state_label.setText("Fix the errors below before saving.")
            return
        self.path.write_text(self.editor.toPlainText(), encoding="utf-8")
        self.state_label.setText("Saved; reloading the agent (after any call in progress)…")
        self.handle.reload_agent(self.path.parent)

    @Slot(object)
    def _on_validated(self, result: AgentValidated) -> None:
        if Path(result.path) == self.path:
            self._set_problems(result.problems)

    @Slot(object)
    def _on_reloaded(self, result: AgentReloaded) -> None:
        if result.error:
            self.state_label.setText(
                f"<span style='color:#dc2626'>reload failed: {result.error}</span>"
            )
        else:
            self.state_label.setText(f"Reloaded {result.agent_name}: the next call uses it.")

    def _set_problems(self, problems: tuple[tuple[int | None, str], ...]) -> None:
        self.problems = problems
        self.errors.clear()
        selections = []
        for line, text in problems:
            item = QListWidgetItem(f"line {line}: {text}" if line else text)
            item.setForeground(QColor("#dc2626"))
            item.setData(256, line)
            self.errors.addItem(item)
            if line:
                selection = QTextEdit.ExtraSelection()
                selection.format.setBackground(QColor(220, 38, 38, 50))
                selection.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
                block = self.editor.document().findBlockByNumber(line - 1)
                selection.cursor = QTextCursor(block)
                selections.append(selection)
        self.editor.setExtraSelections(selections)
        self.errors.setVisible(bool(problems))
        self.save_button.setEnabled(not problems)
        if problems:
            self.state_label.setText(
                f"{len(problems)} problem(s) — the agent keeps running as saved."
            )
        else:
            self.state_label.setText("Valid.")

    @Slot(QListWidgetItem)
    def _on_error_clicked(self, item: QListWidgetItem) -> None:
        line = item.data(256)
        if line:
            block = self.editor.document().findBlockByNumber(int(line) - 1)
            self.editor.setTextCursor(QTextCursor(block))
            self.editor.centerCursor()
            self.editor.setFocus()

    @Slot()
    def _on_open(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open an agent definition", str(self.path.parent), "Agent (agent.yaml)"
        )
        if path:
            self.open_file(Path(path))
