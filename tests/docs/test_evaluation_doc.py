"""docs/evaluation.md: its run files compare as it says, its scorecard has the fields a real one
has, and every command line it shows names options its command has."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.engine.outcomes import summarise
from workbench.engine.scorecard import CALL_LOG_FIELDS, Scorecard, TopicScore
from workbench.paths import REPO_ROOT

DOC = REPO_ROOT / "docs" / "evaluation.md"
WORKBENCH = Path(sys.executable).parent / "workbench"


def text() -> str:
    return DOC.read_text(encoding="utf-8")


def block(info: str) -> str:
    (found,) = re.findall(rf"```{info}\n(.*?)```", text(), re.S)
    return found


def test_the_example_runs_compare_as_the_guide_says(tmp_path):
    (tmp_path / "base.json").write_text(block("json base"))
    (tmp_path / "new.json").write_text(block("json new"))
    done = subprocess.run(
        [str(WORKBENCH), "compare", str(tmp_path / "base.json"), str(tmp_path / "new.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    for line in block("text").splitlines():
        assert line in done.stdout.splitlines(), f"{line!r} not in:\n{done.stdout}"
    same = subprocess.run(
        [str(WORKBENCH), "compare", str(tmp_path / "base.json"), str(tmp_path / "base.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert same.returncode == 0 and "no regression" in same.stdout


def test_the_call_log_line_has_the_fields_serve_writes():
    line = json.loads(block("json call-log"))
    assert set(line) == set(CALL_LOG_FIELDS)
    assert line["format"] == "workbench-call/1"


def test_the_example_scorecard_has_the_fields_of_a_real_one():
    example = json.loads(block("json"))
    card = Scorecard(
        call_id="CA0",
        resolution="ai_resolved",
        end_reason="agent_ended",
        topics=(TopicScore("T", ("a",), ("a",), "act", True),),
        turns=1,
        reprompts=0,
        no_matches=0,
        latency_ms={"turns": 1, "p50": 1.0, "p95": 1.0, "max": 1.0},
        interruptions=summarise([]),
        crm={"records": 1, "by_object": {"VoiceCall": 1}},
    ).to_dict()
    assert set(example) == set(card)
    assert set(example["topics"][0]) == set(card["topics"][0])
    assert set(example["interruptions"]) == set(card["interruptions"])
    assert set(example["latency_ms"]) == set(card["latency_ms"])


def command_lines() -> list[str]:
    lines = re.findall(r"```bash\n(.*?)```", text(), re.S)
    return [line for b in lines for line in b.splitlines() if line.strip()]


@pytest.mark.parametrize("line", command_lines())
def test_every_command_line_uses_options_the_command_has(line):
    words = [w for w in shlex.split(line.split("#")[0]) if "=" not in w or w.startswith("--")]
    words = words[words.index("workbench") + 1 :]
    options = [w for w in words if w.startswith("--")]
    done = subprocess.run(
        [str(WORKBENCH), words[0], "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    help_text = re.sub(r"\s+", " ", done.stdout)
    for option in options:
        assert option in help_text, f"{words[0]} has no {option}"
