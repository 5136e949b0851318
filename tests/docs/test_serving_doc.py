"""docs/serving.md: the signature snippet computes Twilio's published value, every command line
it shows names options its command has, the busy message is the one the server says, and the
overlap report examples are what `workbench call` and `workbench load` make of those outcomes."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.engine.outcomes import OverlapOutcome, summarise
from workbench.load_commands import overlap_summary_lines
from workbench.loadreport import OVERLAP, Sample, overlap_report, overlap_sample_cause
from workbench.paths import REPO_ROOT
from workbench.telephony.caller.overlaps import OverlapTracker, observed_policy
from workbench.telephony.commands import overlap_lines
from workbench.telephony.server.admission import BUSY_MESSAGE

DOC = REPO_ROOT / "docs" / "serving.md"
WORKBENCH = Path(sys.executable).parent / "workbench"
SUBCOMMANDS = {"bench"}  # `workbench bench serve …`


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_signature_snippet_prints_twilios_published_signature():
    done = subprocess.run(
        [sys.executable, "-c", blocks("python")[0]], capture_output=True, text=True, timeout=30
    )
    assert done.stdout.strip() == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def command_lines() -> list[str]:
    lines = [line for block in blocks("bash") for line in block.splitlines() if line.strip()]
    assert len(lines) >= 5
    return lines


@pytest.mark.parametrize("line", command_lines())
def test_every_command_line_uses_options_the_command_has(line):
    words = [w for w in shlex.split(line.split("#")[0]) if "=" not in w or w.startswith("--")]
    words = words[words.index("workbench") + 1 :]
    command = words[:2] if words[0] in SUBCOMMANDS else words[:1]
    options = [w.split("=")[0] for w in words if w.startswith("--")]
    done = subprocess.run(
        [str(WORKBENCH), *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    help_text = re.sub(r"\s+", " ", done.stdout)
    for option in options:
        assert option in help_text, f"{' '.join(command)} has no {option}"


def test_the_busy_message_is_the_one_the_server_says():
    text = re.sub(r"\s+", " ", DOC.read_text(encoding="utf-8"))
    assert BUSY_MESSAGE in text


def call_example() -> dict:
    [call, _load] = [json.loads(block) for block in blocks("json")]
    return call


def outcomes_of(report: dict) -> list[OverlapOutcome]:
    return [
        OverlapOutcome(
            o["intent"], o["outcome"], o["onset_ms"], o["stop_latency_ms"], o["resume_gap_ms"]
        )
        for o in report["overlaps"]
    ]


def test_the_call_examples_summary_and_policy_are_computed_from_its_overlaps():
    call = call_example()
    outcomes = outcomes_of(call)
    assert call["summary"] == summarise(outcomes)
    cleared = [o["clear_ms"] is not None for o in call["overlaps"]]
    assert call["policy"] == observed_policy(outcomes, cleared)
    for o in call["overlaps"]:  # the times agree with each other
        if o["outcome"] == "resumed":
            last_heard = o["onset_ms"] + o["stop_latency_ms"]
            assert o["heard_again_ms"] - last_heard == o["resume_gap_ms"]


def test_the_call_example_has_the_fields_a_call_reports():
    tracker = OverlapTracker()  # a reply, the caller's voice over it, a clear
    tone = bytes([0x10, 0x90]) * 80
    for i in range(20):
        tracker.agent_frame(i * 20.0, tone, (0, 160))
    tracker.caller_onset(390.0, "acknowledgement")
    tracker.clear(450.0)
    tracker.finish(2000.0)
    real = tracker.report()
    example = call_example()
    assert set(example) == set(real)
    assert all(set(o) == set(real["overlaps"][0]) for o in example["overlaps"])


def test_the_terminal_lines_are_what_workbench_call_prints_for_the_example():
    [text] = blocks("text")
    assert overlap_lines(call_example()) == text.strip().splitlines()


def test_the_load_example_is_the_call_example_as_a_one_call_run():
    call = call_example()
    samples = [
        Sample(
            0.0,
            OVERLAP,
            outcome.stop_latency_ms or 0.0,
            outcome.correct,
            "opening-hours",
            "CA1",
            overlap_sample_cause(
                outcome, cleared=o["clear_ms"] is not None, returned_as=o["returned_as"]
            ),
        )
        for outcome, o in zip(outcomes_of(call), call["overlaps"], strict=True)
    ]
    [_call, load] = [json.loads(block) for block in blocks("json")]
    report = overlap_report(samples)
    assert load["overlaps"] == report
    [line] = overlap_summary_lines(report)
    assert line.strip().startswith("overlaps 2: yielded 1 of 1 interruptions")
    assert line.strip().endswith("; policy observed: pauses and resumes")


def metrics_table() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The table of "What `/metrics` counts": metric → (type, label names)."""
    section = DOC.read_text(encoding="utf-8").split("### What `/metrics` counts")[1]
    section = section.split("\n#")[0]
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| ([^|]+) \|", section, re.M)
    return {name: (kind, tuple(re.findall(r"`(\w+)`", labels))) for name, kind, labels in rows}


def test_the_metrics_table_is_what_a_server_with_workers_serves(tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    from workbench.telephony.metrics import render_workers

    table = metrics_table()
    assert len(table) >= 20
    # A worker counts one of everything, labelled as the table says (labels appear once used).
    script = (
        "import json, sys\n"
        "from workbench.telephony.metrics import ServerMetrics\n"
        "m = ServerMetrics((0, 1))\n"
        "for name, (kind, labels) in json.loads(sys.argv[1]).items():\n"
        "    if kind == 'counter':\n"
        "        m.inc(name, **{label: 'x' for label in labels})\n"
        "    elif kind == 'histogram':\n"
        "        m.observe(name, 0.5)\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, json.dumps(table)],
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
        check=True,
        timeout=60,
    )
    served: dict[str, tuple[str, tuple[str, ...]]] = {}
    for family in text_string_to_metric_families(render_workers(str(tmp_path))):
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {label for sample in family.samples for label in sample.labels} - {"le"}
        served[name] = (family.type, tuple(sorted(labels)))
    assert served == table
