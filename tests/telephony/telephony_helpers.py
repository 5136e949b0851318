"""Shared pieces of the telephony tests: a recording CRM sink and a live server handle."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from workbench.crm.sink import CallerInfo
from workbench.engine.calls import CallRuntime
from workbench.telephony.server.config import ServerConfig
from workbench.telephony.server.media_server import MediaStreamServer
from workbench.telephony.server.serving import ServerThread

VIP_NUMBER = "+14155550777"
TOKEN = "s3cret-token"


@dataclass
class FakeCrmSink:
    """Records `write_call`s; knows one VIP caller."""

    records: list[Any] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    written: threading.Condition = field(default_factory=threading.Condition)

    def write_call(self, record: Any) -> list[int]:
        with self.written:
            self.records.append(record)
            self.written.notify_all()
        return [len(self.records)]

    def lookup_caller(self, phone: str) -> CallerInfo | None:
        self.lookups.append(phone)
        if phone == VIP_NUMBER:
            return CallerInfo(
                "Contact",
                "003000000000001AAA",
                "Dana Whitfield",
                account_name="Acme Corp",
                vip=True,
                open_cases=("Login fails",),
            )
        return None

    def wait_for(self, predicate: Any, timeout_s: float = 20.0) -> bool:
        with self.written:
            return self.written.wait_for(lambda: predicate(self.records), timeout_s)

    def close(self) -> None:
        pass


@dataclass
class LiveServer:
    thread: ServerThread
    port: int
    crm: FakeCrmSink
    events: list[tuple[str, Any]]

    @property
    def server(self) -> MediaStreamServer:
        assert self.thread.server is not None
        return self.thread.server

    @property
    def media_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/media"

    @property
    def agent_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/agent"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def events_of(self, call_sid: str) -> list[Any]:
        return [event for sid, event in list(self.events) if sid == call_sid]

    def wait_finished(self, call_sid: str, timeout_s: float = 20.0) -> Any:
        summary = self.server.wait_finished(call_sid, timeout_s)
        assert summary is not None, f"call {call_sid} did not finish within {timeout_s} s"
        return summary


def start_server(runtime: CallRuntime, **config: Any) -> LiveServer:
    crm = FakeCrmSink()
    events: list[tuple[str, Any]] = []
    # The overload guards judge the machine's load; the tests that are not about them must not
    # depend on how busy the machine running them is (test_admission.py turns them on).
    config = {"max_loop_lag_ms": 0.0, "max_turn_latency_ms": 0.0, **config}
    settings = ServerConfig(host="127.0.0.1", port=0, crm=False, **config)

    def factory() -> MediaStreamServer:
        return MediaStreamServer(
            settings,
            runtime=runtime,
            crm_sink=crm,
            on_event=lambda call, event: events.append((call.call_sid, event)),
        )

    thread = ServerThread(factory)
    port = thread.start()
    return LiveServer(thread, port, crm, events)
