"""The state the local org's handlers share (store, token, faults, counters, cursors)."""

from __future__ import annotations

import asyncio
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from workbench.crm.org.faults import FaultInjector, FaultSpec, parse_fault_spec
from workbench.crm.org.records import Records

DEFAULT_DAILY_MAX = 15000


@dataclass
class OrgState:
    """Everything the handlers share; lives on the server loop's thread."""

    records: Records
    token: str
    instance_url: str = ""
    spec: FaultSpec = field(default_factory=FaultSpec)
    injector: FaultInjector = field(default_factory=lambda: FaultInjector(FaultSpec()))
    counts: Counter = field(default_factory=Counter)
    api_used: int = 0
    budget_used: int = 0
    cursors: OrderedDict = field(default_factory=OrderedDict)
    new_event: asyncio.Event | None = None

    def set_faults(self, spec: str | None) -> FaultSpec:
        parsed = parse_fault_spec(spec)
        self.spec = parsed
        self.injector = FaultInjector(parsed)
        self.budget_used = 0  # a budget counts from when it was set
        return parsed

    def usage(self) -> tuple[int, int]:
        if self.spec.budget is not None:
            return self.budget_used, self.spec.budget
        return self.api_used, DEFAULT_DAILY_MAX

    def notify_event(self) -> None:
        if self.new_event is not None:
            self.new_event.set()
        self.new_event = asyncio.Event()
