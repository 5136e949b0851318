"""The Pipecat bot as a test target: tests/targets/pipecat_bot.py on a free loopback port, run
by the python of its own virtualenv `.venv-pipecat`, saying two phrases the workbench's TTS
renders first."""

from __future__ import annotations

import contextlib
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
TARGETS = REPO / "tests" / "targets"
PIPECAT_PYTHON = REPO / ".venv-pipecat" / "bin" / "python"
BOT = TARGETS / "pipecat_bot.py"
SCENARIO = TARGETS / "pipecat-office-hours.yaml"  # also shown in docs/testing-deployed-agents.md
BARGE_IN = TARGETS / "pipecat-barge-in.yaml"
SETUP_COMMAND = "WORKBENCH_TEST_TARGETS=1 bash scripts/setup"
VOICE = "piper:joe"  # the agent's voice: a designer's bot would not sound like espeak
GREETING = "Thank you for calling Maple Street Library. How can I help you today?"
REPLY = "We are open from nine in the morning until five in the evening, Monday to Friday."
READY_TIMEOUT_S = 180.0  # importing Pipecat (numba, onnxruntime) on a loaded two-core machine


@dataclass(frozen=True)
class Bot:
    url: str
    log: Path


def render(text: str, path: Path) -> Path:
    """A phrase as the bot will say it: `workbench say`, the workbench's own TTS."""
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "say", text, "--voice", VOICE, "-o", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return path


def wait_for_ready_line(process: subprocess.Popen[str], log: Path, timeout_s: float) -> str:
    """The bot's `ready ws://…` line, or a failure that shows the tail of its log."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=1.0):
                line = process.stdout.readline().strip()
                if line.startswith("ready ws://"):
                    return line.split()[1]
                if not line and process.poll() is not None:
                    break
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"the Pipecat bot did not become ready (exit {process.poll()}); its log:\n{tail}")


@contextlib.contextmanager
def running_pipecat_bot(folder: Path) -> Iterator[Bot]:
    greeting = render(GREETING, folder / "greeting.wav")
    reply = render(REPLY, folder / "reply.wav")
    log = folder / "pipecat_bot.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [str(PIPECAT_PYTHON), str(BOT), "--greeting", str(greeting), "--reply", str(reply)],
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
        )
        try:
            yield Bot(wait_for_ready_line(process, log, READY_TIMEOUT_S), log)
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
