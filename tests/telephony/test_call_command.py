"""`workbench call URL --scenario FILE`: a scenario's caller over the wire, judged from outside."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from workbench.cli import app
from workbench.engine import events as ev

pytestmark = [pytest.mark.network, pytest.mark.slow]

SCENARIO = """\
name: wire-opening-hours
caller: {number: "+14155550155", voice: "espeak:en-us"}
steps:
  - say: What are your opening hours?
expect:
  turn_latency_ms: {max: 5000}
  topic: OpeningHours
"""


def test_call_plays_the_scenario_and_judges_what_the_caller_can_observe(live_server, tmp_path):
    scenario = tmp_path / "wire.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "call.json"
    result = CliRunner().invoke(
        app, ["call", live_server.media_url, "--scenario", str(scenario), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert len(data["turn_latencies_ms"]) == 1
    verdicts = {o["expectation"]: o["status"] for o in data["outcomes"]}
    assert verdicts == {"turn_latency_ms.max": "pass", "topic": "skip"}
    assert "[pass] call: turn_latency_ms.max" in result.output
    events = live_server.events_of(data["call_sid"])
    assert [e.topic for e in events if isinstance(e, ev.TopicDecided)] == ["OpeningHours"]
