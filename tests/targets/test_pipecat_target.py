"""Against a third-party bot: `workbench call` and `workbench load` on a Pipecat bot
(tests/targets/pipecat_bot.py: Pipecat's own Twilio serializer, FastAPI transport and Silero
VAD, saying a fixed greeting and a fixed reply), a server whose protocol side nobody here wrote.

Both run the scenario a designer would write for it (tests/targets/pipecat-office-hours.yaml,
shown in docs/testing-deployed-agents.md), as a user runs them: the CLI in a child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.pipecat_target import BARGE_IN, SCENARIO, Bot

pytestmark = [pytest.mark.network, pytest.mark.slow]

VAD_STOP_MS = 400  # the bot replies after 0.4 s of caller quiet (its VADParams.stop_secs)
VAD_START_MS = 200  # and yields after 0.2 s of caller speech (VADParams.start_secs)


def workbench(*args: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workbench", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_call_judges_what_the_pipecat_bot_said_in_its_greeting_and_its_replies(
    pipecat_bot: Bot, tmp_path: Path
):
    out = tmp_path / "call.json"
    done = workbench(
        "call", pipecat_bot.url, "--scenario", str(SCENARIO), "--json", str(out), timeout_s=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    call = json.loads(out.read_text())

    heard = sorted(
        (o["where"], o["expectation"], o["expected"], o["status"])
        for o in call["outcomes"]
        if o["expectation"] in ("agent_said", "agent_never_said")
    )
    # Every expectation on the agent's words is evaluated from what the caller heard: none
    # skipped as "not observable from the caller's side".
    assert heard == [
        ("call", "agent_never_said", "'/sorry/'", "pass"),
        ("call", "agent_said", "'Maple Street Library'", "pass"),
        (
            "step 2: say 'When are you open?'",
            "agent_said",
            "'/open from (nine|9) in the morning/'",
            "pass",
        ),
        ("step 2: say 'When are you open?'", "agent_said", "'Monday to Friday'", "pass"),
        ("step 3: say 'And on Saturdays?'", "agent_said", "'/(five|5) in the evening/'", "pass"),
    ]
    assert [o for o in call["outcomes"] if o["status"] != "pass"] == []  # the wait_for too
    assert call["error"] == "" and call["protocol_errors"] == []

    # Two replies, each timed from the caller's last speech to the reply heard: no sooner than
    # the bot's VAD lets it answer, and within a few seconds on a loaded machine.
    assert len(call["turn_latencies_ms"]) == 2
    assert all(VAD_STOP_MS <= ms <= 5000 for ms in call["turn_latencies_ms"]), call[
        "turn_latencies_ms"
    ]
    # Pipecat's serializer sends media and no marks; nobody spoke over the bot, so no clear.
    assert call["media_received"] > 0
    assert (call["marks_received"], call["clears_received"]) == (0, 0)
    agent_lines = [line["text"] for line in call["conversation"] if line["speaker"] == "agent"]
    assert len(agent_lines) == 3, agent_lines  # the greeting and two replies


def test_the_pipecat_bot_yields_to_a_caller_who_talks_over_it_and_the_call_sees_its_clear(
    pipecat_bot: Bot, tmp_path: Path
):
    out = tmp_path / "barge.json"
    done = workbench(
        "call", pipecat_bot.url, "--scenario", str(BARGE_IN), "--no-listen", "--json", str(out),
        timeout_s=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    call = json.loads(out.read_text())

    # Pipecat's interruption reaches the wire as Twilio's `clear`: the reply stops at the caller
    # no sooner than the bot's VAD has heard 0.2 s of the caller, and well within a second and
    # a half; the caller's side sees the stop made by the clear, and no reply resumed.
    assert call["clears_received"] == 1
    [stop_ms] = call["barge_in_stop_ms"]
    assert VAD_START_MS <= stop_ms <= 1500, stop_ms
    overlaps = call["overlaps"]["overlaps"]
    assert [(o["outcome"], o["stopped_by"]) for o in overlaps].count(("yielded", "clear")) == 1
    assert call["overlaps"]["summary"]["counts"]["resumed"] == 0
    # It answers the question it was interrupted by, anew: two replies timed.
    assert len(call["turn_latencies_ms"]) == 2
    assert all(ms >= VAD_STOP_MS for ms in call["turn_latencies_ms"]), call["turn_latencies_ms"]
    assert call["error"] == ""


def test_load_completes_calls_on_the_pipecat_bot_with_every_turns_latency(
    pipecat_bot: Bot, tmp_path: Path
):
    prefix = tmp_path / "load"
    done = workbench(
        "load",
        pipecat_bot.url,
        "--users", "2",
        "--spawn-rate", "2",
        "--duration", "20s",
        "--scenarios", str(SCENARIO),
        "--report", str(prefix),
        "--locust-arg=--stop-timeout=60",  # calls under way at the end finish, then it stops
        timeout_s=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(prefix.with_name("load.json").read_text())

    calls, metrics = report["calls"], report["metrics_ms"]
    assert calls["completed"] >= 2 and calls["failed"] == 0, (calls, report["failures"])
    assert report["failures"] == {}
    # The greeting timed on every call, and both of every completed call's replies.
    assert metrics["ttfa"]["count"] >= calls["completed"]
    latency = metrics["response_latency"]
    assert latency["count"] >= 2 * calls["completed"]
    assert VAD_STOP_MS <= latency["p50"] <= latency["max"] <= 5000, latency
