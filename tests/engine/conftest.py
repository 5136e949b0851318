"""The demo agent and its speech stack, loaded once for the engine tests."""

from __future__ import annotations

import pytest

from workbench.engine.calls import CallRuntime


@pytest.fixture(scope="session")
def runtime() -> CallRuntime:
    runtime = CallRuntime()
    runtime.stack(runtime.agent())
    return runtime
