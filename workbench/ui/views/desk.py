"""The agent desk: the workbench as the human a call is handed to (the softphone's Answer).

It connects to a `workbench serve` agent endpoint (`ws://HOST:PORT/agent`) with the same
`DeskClient` as the `workbench desk` terminal. Calls the AI escalated wait in the queue
list; Answer takes one, and its context (why it was escalated, the transcript so far, captured
values, summary, CRM record) is on screen before the caller hears anyone. The human talks by
typing (the server speaks it into the call in a TTS voice), transfers to another queue or hangs
up. Socket threads only post to the bridge; every widget change happens on the GUI thread.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from workbench.ui import messages as msg
from workbench.ui.bridge import EngineBridge

log = logging.getLogger(__name__)

DEFAULT_DESK_URL = "ws://127.0.0.1:8080/agent"


class AgentDeskPanel(QWidget):
    """`waiting_changed(n)` says how many calls wait for this agent (the softphone's Answer)."""

    waiting_changed = Signal(int)

    def __init__(self, bridge: EngineBridge, *, url: str = DEFAULT_DESK_URL) -> None:
        super().__init__()
        self.bridge = bridge
        self.client: Any = None
        self.call_sid: str | None = None
        self.waiting: list[dict[str, Any]] = []
        self.context: dict[str, Any] | None = None
        self.log_lines: list[str] = []
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="desk")

        self.url_edit = QLineEdit(url)
        self.url_edit.setToolTip("The agent endpoint of a running `workbench serve`")
        self.name_edit = QLineEdit("Sam")
        self.skills_edit = QLineEdit("*")
        self.skills_edit.setToolTip("Comma-separated skills (topics); * takes any call")
        self.connect_button = QPushButton("Connect")
        self.status_label = QLabel("Not connected")
        self.status_label.setWordWrap(True)
        self.queue_list = QListWidget()
        self.answer_button = QPushButton("Answer")
        self.hangup_button = QPushButton("Hang up")
        self.transfer_edit = QLineEdit("Billing")
        self.transfer_button = QPushButton("Transfer")
        self.say_edit = QLineEdit()
        self.say_edit.setPlaceholderText("What you say to the caller (spoken in a TTS voice)")
        self.say_button = QPushButton("Say")
        self.context_view = QPlainTextEdit()
        self.context_view.setReadOnly(True)
        self.context_view.setPlaceholderText(
            "The context of the call you answer appears here before you speak: why it was "
            "escalated, the transcript so far, captured values, the summary, the CRM record."
        )

        form = QFormLayout()
        form.addRow("Agent endpoint", self.url_edit)
        form.addRow("Your name", self.name_edit)
        form.addRow("Skills", self.skills_edit)
        form.addRow("", self.connect_button)
        form.addRow(self.status_label)
        left = QVBoxLayout()
        left.addLayout(form)
        left.addWidget(QLabel("Waiting calls"))
        left.addWidget(self.queue_list, 1)
        actions = QHBoxLayout()
        for widget in (self.answer_button, self.hangup_button):
            actions.addWidget(widget)
        left.addLayout(actions)
        transfer = QHBoxLayout()
        transfer.addWidget(self.transfer_edit, 1)
        transfer.addWidget(self.transfer_button)
        left.addLayout(transfer)
        right = QVBoxLayout()
        right.addWidget(self.context_view, 1)
        say = QHBoxLayout()
        say.addWidget(self.say_edit, 1)
        say.addWidget(self.say_button)
        right.addLayout(say)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(left, 2)
        layout.addLayout(right, 3)

        self.connect_button.clicked.connect(self.toggle_connection)
        self.answer_button.clicked.connect(self.answer)
        self.hangup_button.clicked.connect(self.hang_up)
        self.transfer_button.clicked.connect(self.transfer)
        self.say_button.clicked.connect(self._on_say)
        self.say_edit.returnPressed.connect(self._on_say)
        bridge.desk_message.connect(self._on_message)
        self._update_controls()

    # commands (GUI thread) ------------------------------------------------------------------
    @Slot()
    def toggle_connection(self) -> None:
        if self.client is not None:
            self.disconnect_desk()
            return
        from workbench.telephony.handoff.desk import DeskClient

        skills = tuple(s.strip() for s in self.skills_edit.text().split(",") if s.strip())
        self.client = DeskClient(
            self.url_edit.text().strip(),
            name=self.name_edit.text().strip() or "agent",
            skills=skills or ("*",),
            on_message=self._from_socket,
        )
        self.status_label.setText("Connecting…")
        self._worker.submit(self._connect, self.client)
        self._update_controls()

    def disconnect_desk(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            self._worker.submit(client.close)
        self.call_sid, self.context, self.waiting = None, None, []
        self._show_queue()
        self.status_label.setText("Not connected")
        self._update_controls()

    @Slot()
    def answer(self) -> None:
        """Take the selected waiting call (or the best one for my skills)."""
        if self.client is None or self.call_sid is not None or not self.waiting:
            return
        item = self.queue_list.currentItem()
        message: dict[str, Any] = {"event": "take"}
        if item is not None:
            message["callSid"] = item.data(Qt.ItemDataRole.UserRole)
        self._send(message)

    @Slot()
    def hang_up(self) -> None:
        if self.call_sid is not None:
            self._send({"event": "hangup"})

    @Slot()
    def transfer(self) -> None:
        queue_name = self.transfer_edit.text().strip()
        if self.call_sid is not None and queue_name:
            self._send({"event": "transfer", "queue": queue_name})

    def say(self, text: str) -> None:
        if self.call_sid is not None and text.strip():
            self._send({"event": "say", "text": text.strip()})
            self._note(f"you: {text.strip()}")

    def shutdown(self) -> None:
        """Close the connection and join the worker (and with it the socket's threads)."""
        client, self.client = self.client, None
        if client is not None:
            self._worker.submit(client.close)
        self._worker.shutdown(wait=True, cancel_futures=False)

    # worker and socket threads: post, nothing else -------------------------------------------
    def _connect(self, client: Any) -> None:
        try:
            welcome = client.connect()
        except Exception as error:  # DeskError and the socket's own errors: said, not raised
            self.bridge.post(msg.DeskMessage({"event": "failed", "message": str(error)}))
            return
        self.bridge.post(msg.DeskMessage(welcome))

    def _from_socket(self, message: dict[str, Any]) -> None:
        if message.get("event") != "media":  # audio stays with the client; 50 a second
            self.bridge.post(msg.DeskMessage(message))

    def _send(self, message: dict[str, Any]) -> None:
        client = self.client
        if client is None:
            return

        def send() -> None:
            try:
                client.send(message)
            except Exception as error:  # the server went away
                self.bridge.post(msg.DeskMessage({"event": "failed", "message": str(error)}))

        self._worker.submit(send)

    # bridge (GUI thread) ---------------------------------------------------------------------
    @Slot(object)
    def _on_message(self, item: msg.DeskMessage) -> None:
        message = item.message
        kind = message.get("event")
        if kind == "failed":
            self.client = None
            self.status_label.setText(f"<b>Desk offline</b>: {message.get('message')}")
            self.call_sid, self.waiting = None, []
            self._show_queue()
        elif kind == "welcome":
            self.status_label.setText(f"Connected to {self.url_edit.text().strip()}")
            self.waiting = list(message.get("queue", []))
            self._show_queue()
        elif kind == "queue":
            self.waiting = list(message.get("calls", []))
            self._show_queue()
        elif kind == "context":
            from workbench.telephony.handoff.desk import format_context

            self.call_sid = message.get("callSid")
            self.context = message
            self.log_lines = []
            self.context_view.setPlainText(format_context(message))
            self.status_label.setText(f"Answering {self.call_sid}: read the context first")
        elif kind == "connected":
            self.status_label.setText(f"On the call with {message.get('callSid')}")
            self._note("connected: the caller hears you now")
        elif kind == "ended":
            self._note(f"call ended ({message.get('reason', '')})")
            self.status_label.setText("Call ended; waiting for the next one")
            self.call_sid = None
        elif kind == "error":
            self.status_label.setText(f"<b>Server said</b>: {message.get('message')}")
        self._update_controls()

    # view -----------------------------------------------------------------------------------
    def _note(self, line: str) -> None:
        self.log_lines.append(line)
        self.context_view.appendPlainText(line)

    def _show_queue(self) -> None:
        selected = self.queue_list.currentItem()
        keep = selected.data(Qt.ItemDataRole.UserRole) if selected is not None else None
        self.queue_list.clear()
        for call in self.waiting:
            sid = call.get("callSid", "")
            parts = [sid[-8:], call.get("queue", ""), call.get("reason", "")]
            caller = call.get("caller") or call.get("from")
            if caller:
                parts.append(str(caller))
            item = QListWidgetItem(" · ".join(p for p in parts if p))
            item.setData(Qt.ItemDataRole.UserRole, sid)
            self.queue_list.addItem(item)
            if sid == keep:
                self.queue_list.setCurrentItem(item)
        self.waiting_changed.emit(len(self.waiting) if self.call_sid is None else 0)

    @Slot()
    def _on_say(self) -> None:
        self.say(self.say_edit.text())
        self.say_edit.clear()

    def _update_controls(self) -> None:
        connected = self.client is not None
        on_call = self.call_sid is not None
        self.connect_button.setText("Disconnect" if connected else "Connect")
        for widget in (self.url_edit, self.name_edit, self.skills_edit):
            widget.setEnabled(not connected)
        self.answer_button.setEnabled(connected and not on_call and bool(self.waiting))
        for widget in (
            self.hangup_button,
            self.transfer_button,
            self.say_button,
            self.say_edit,
            self.transfer_edit,
        ):
            widget.setEnabled(on_call)
        self.waiting_changed.emit(len(self.waiting) if connected and not on_call else 0)
