"""Suite-wide set-up: no test touches the user's real caches, and Qt runs offscreen."""

from __future__ import annotations

import os

import pytest
from support.llm_server import server  # noqa: F401 (the fake LLM server fixture, for any test)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _isolated_workbench_home(tmp_path_factory: pytest.TempPathFactory):
    """One fresh WORKBENCH_HOME for the whole run (tests may still point it elsewhere)."""
    home = tmp_path_factory.mktemp("workbench-home")
    previous = os.environ.get("WORKBENCH_HOME")
    os.environ["WORKBENCH_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("WORKBENCH_HOME", None)
    else:
        os.environ["WORKBENCH_HOME"] = previous
