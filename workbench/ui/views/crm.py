"""The CRM panel: records this call wrote, platform events, outbox and dead-letter status."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QListWidget,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from workbench.ui.bridge import EngineBridge
from workbench.ui.messages import CrmUpdate

SUMMARY_FIELDS = (  # what identifies a record at a glance (the detail view has the rest)
    "Subject",
    "Intent__c",
    "Disposition__c",
    "CallDisposition",
    "Status",
    "Priority",
    "LastName",
    "Company",
    "QueueName",
)


class CrmPanel(QWidget):
    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.records: list[dict] = []
        self._newest_event: object = None
        self.target_label = QLabel("CRM: not connected yet (it opens after the first call)")
        self.target_label.setWordWrap(True)
        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Object", "Id", "Delivery", "Summary"])
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.detail_title = QLabel("<b>Record detail</b> — select a record")
        self.detail = QTableWidget(0, 2)
        self.detail.setHorizontalHeaderLabels(["Field", "Value"])
        self.detail.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.detail.verticalHeader().setVisible(False)
        self.detail.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.detail.setWordWrap(True)
        self.events_list = QListWidget()

        records_box = QWidget()
        records_layout = QVBoxLayout(records_box)
        records_layout.setContentsMargins(0, 0, 0, 0)
        records_layout.addWidget(QLabel("<b>Records this call wrote</b>"))
        records_layout.addWidget(self.table, 2)
        records_layout.addWidget(QLabel("<b>Platform events</b> (Call_Event__e, newest last)"))
        records_layout.addWidget(self.events_list, 1)
        detail_box = QWidget()
        detail_layout = QVBoxLayout(detail_box)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.detail_title)
        detail_layout.addWidget(self.detail, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(records_box)
        splitter.addWidget(detail_box)
        splitter.setSizes([450, 350])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.target_label)
        layout.addWidget(self.status_label)
        layout.addWidget(splitter, 1)

        self.table.itemSelectionChanged.connect(self._on_selection)
        bridge.crm_updated.connect(self._on_update)

    @Slot(object)
    def _on_update(self, update: CrmUpdate) -> None:
        if update.error:
            self.status_label.setText(f"<span style='color:#dc2626'>{update.error}</span>")
            return
        self.target_label.setText(f"Writing to the <b>{update.target}</b>")
        counts = update.status.get("counts", {})
        dead = update.status.get("dead_by_cause", {})
        text = "Outbox: " + " · ".join(f"{state} {n}" for state, n in counts.items())
        if dead:
            text += " — dead letters: " + ", ".join(f"{cause} {n}" for cause, n in dead.items())
        if update.call_id and not update.final:
            text += f" — delivering call {update.call_id}…"
        self.status_label.setText(text)
        if update.final and update.records:
            self._update_records(list(update.records))
        self._update_events(update.platform_events)

    def _update_records(self, records: list[dict]) -> None:
        self.records = records
        self.table.setRowCount(len(records))
        for row, record in enumerate(records):
            fields = record.get("fields", {})
            summary = ", ".join(
                f"{name}={fields[name]}" for name in SUMMARY_FIELDS if fields.get(name)
            )
            delivery = record["state"] + (f" ({record['error']})" if record.get("error") else "")
            for column, value in enumerate((record["object"], record["Id"], delivery, summary)):
                item = QTableWidgetItem(str(value))
                item.setToolTip(str(value))
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        if records:
            self.table.selectRow(0)

    def _update_events(self, events: tuple[dict, ...]) -> None:
        newest = events[-1].get("replayId") if events else None
        if newest == self._newest_event:
            return  # unchanged: skip rebuilding the list
        self._newest_event = newest
        self.events_list.clear()
        for event in events:
            payload = event.get("payload") or {}
            detail = payload.get("Payload__c", "")
            try:
                data = json.loads(detail) if detail else {}
                data.pop("event_id", None)
                detail = ", ".join(f"{k}={v}" for k, v in data.items())
            except (TypeError, ValueError):
                pass
            call = str(payload.get("Call_Id__c", ""))[:12]
            self.events_list.addItem(
                f"#{event.get('replayId', '')}  {payload.get('Type__c', event.get('type', ''))}"
                f"  {call}…  {detail}"
            )
        self.events_list.scrollToBottom()

    @Slot()
    def _on_selection(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if not rows:
            return
        record = self.records[min(rows)]
        self.detail_title.setText(f"<b>{record['object']}</b> {record['Id']}")
        fields = sorted(record.get("fields", {}).items())
        self.detail.setRowCount(len(fields))
        for row, (name, value) in enumerate(fields):
            shown = json.dumps(value, default=str) if isinstance(value, dict | list) else value
            for column, text in enumerate((name, "" if shown is None else str(shown))):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.detail.setItem(row, column, item)
        self.detail.resizeColumnToContents(0)

    def detail_text(self) -> str:
        """The detail view as text: the title, then "field: value" lines."""
        lines = [self.detail_title.text()]
        for row in range(self.detail.rowCount()):
            lines.append(f"{self.detail.item(row, 0).text()}: {self.detail.item(row, 1).text()}")
        return "\n".join(lines)
