"""A live media-stream server on a free loopback port, shared by the telephony tests.

The agent and its real speech stack load once per run. CRM writes and caller lookups go to a
`FakeCrmSink` that records them (the real sink is the CRM engineer's to test).
"""

from __future__ import annotations

import pytest
from telephony_helpers import TOKEN, start_server

from workbench.engine.calls import CallRuntime


@pytest.fixture(scope="session")
def runtime() -> CallRuntime:
    runtime = CallRuntime()
    runtime.stack(runtime.agent())
    return runtime


@pytest.fixture(scope="session")
def live_server(runtime: CallRuntime):
    """The shared server: small send buffers so a client that stops reading is found fast."""
    server = start_server(runtime, max_send_backlog=40, send_buffer_bytes=4096)
    yield server
    server.thread.stop(drain_timeout_s=2.0)


@pytest.fixture(scope="session")
def secured_server(runtime: CallRuntime):
    """A loopback server that still requires the token (as it would off loopback)."""
    server = start_server(runtime, token=TOKEN, require_token=True)
    yield server
    server.thread.stop(drain_timeout_s=2.0)
