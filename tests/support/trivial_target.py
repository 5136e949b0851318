"""The load bench's trivial agent as a test target."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from workbench.paths import REPO_ROOT

TRIVIAL_TARGET = REPO_ROOT / "loadtests/trivial_target.py"


@contextlib.contextmanager
def running_trivial_target(*options: str) -> Iterator[str]:
    """loadtests/trivial_target.py with `options` on a free loopback port: its URL."""
    process = subprocess.Popen(
        [sys.executable, str(TRIVIAL_TARGET), "--port", "0", *options],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("ready ws://127.0.0.1:"), line
        yield line.split()[1]
    finally:
        process.terminate()
        process.wait(10)
