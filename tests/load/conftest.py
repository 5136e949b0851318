"""Shared fixtures of the load tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

from workbench.paths import REPO_ROOT

TRIVIAL_TARGET = REPO_ROOT / "loadtests/trivial_target.py"


@pytest.fixture(scope="module")
def trivial_target():
    """The bench's trivial agent (loadtests/trivial_target.py) on a free loopback port: its URL."""
    process = subprocess.Popen(
        [sys.executable, str(TRIVIAL_TARGET), "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("ready ws://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)
