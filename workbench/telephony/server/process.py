"""`workbench serve` in a child process on a free loopback port (for benches and load runs).

Standard library only, so the commands that start a server stay light to import.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from workbench.errors import WorkbenchError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def die_with_parent() -> None:
    """In a child before it runs (Linux): SIGTERM it when this process dies, even by SIGKILL,
    so a killed parent leaves no server (or Locust) behind."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


class ServerProcess:
    """The agent server on a free loopback port. `start()` (or entering) returns once
    `GET /healthz` answers, and stops the child on failure; `stop()` (or leaving) drains it.

    Its output goes to `log_path` (a temporary file when not given), never to a pipe nobody
    reads: a long soak would otherwise fill the pipe and stall the server.
    """

    def __init__(
        self,
        *,
        agent: Path | None = None,
        crm: bool = True,
        log_path: Path | None = None,
        timeout_s: float = 120.0,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """`env`: added to this process's environment for the server (secrets such as
        TWILIO_AUTH_TOKEN go here rather than on its command line, which `ps` shows)."""
        self.env = env
        self.port = free_port()
        self.timeout_s = timeout_s
        if log_path is None:
            with tempfile.NamedTemporaryFile(prefix="workbench-serve-", suffix=".log") as f:
                log_path = Path(f.name)
        self.log_path = log_path
        self.command = [
            *(sys.executable, "-m", "workbench", "serve"),
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *(() if crm else ("--no-crm",)),
            *(("--agent", str(agent)) if agent is not None else ()),
            *extra,
        ]
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/media"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                env={**os.environ, **self.env} if self.env else None,
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self) -> None:
        assert self.process is not None
        health = f"http://127.0.0.1:{self.port}/healthz"
        deadline = time.monotonic() + self.timeout_s
        while True:
            code = self.process.poll()
            if code is not None:
                raise WorkbenchError(
                    f"the agent server exited with code {code} before it was ready; "
                    f"its output ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(health, timeout=2.0) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise WorkbenchError(
                    f"the agent server did not answer {health} within {self.timeout_s:g} s; "
                    f"its output ({self.log_path}):\n{self.log_tail()}"
                )
            time.sleep(0.2)  # it is still loading the speech stack

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(none)"
        return "\n".join(text.splitlines()[-lines:]) or "(none)"

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # the server drains its calls and exits
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
