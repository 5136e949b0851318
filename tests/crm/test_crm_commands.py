"""The CRM commands, run as a user runs them: `outbox status|replay|purge`, `org check`, `org serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.crm.mapping import DEFAULT_MAPPING_PATH
from workbench.crm.org import LocalOrg
from workbench.crm.org_check import run_org_check
from workbench.crm.outbox import NewItem, Outbox

WORKBENCH = [sys.executable, "-m", "workbench"]


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    clean["WORKBENCH_HOME"] = str(tmp_path)
    return clean


def run(args, env, cwd):
    return subprocess.run(
        [*WORKBENCH, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )


def seeded_outbox(home: Path) -> Outbox:
    box = Outbox(home / "crm" / "outbox.sqlite")
    ids = box.enqueue(
        "CA1", [NewItem("upsert", "Case", {}, "Call_Id__c", f"CA1-{n}") for n in range(4)]
    )
    box.claim(3)
    box.mark_delivered(ids[0], "500A")
    box.mark_dead(ids[1], "REQUIRED_FIELD_MISSING", "400 REQUIRED_FIELD_MISSING: CallType")
    box.mark_dead(ids[2], "retries exhausted", "503")
    return box


def test_outbox_status_prints_counts_by_state_and_dead_letters_by_cause(tmp_path, env):
    seeded_outbox(tmp_path).close()
    result = run(["outbox", "status"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pending 1  in_flight 0  delivered 1  dead 2" in result.stdout
    assert "REQUIRED_FIELD_MISSING" in result.stdout and "retries exhausted" in result.stdout


def test_outbox_replay_and_purge_of_dead_letters(tmp_path, env):
    box = seeded_outbox(tmp_path)
    replay = run(["outbox", "replay", "--cause", "retries exhausted"], env, tmp_path)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1" in replay.stdout
    purge = run(["outbox", "purge", "--dead"], env, tmp_path)
    assert "purged 1 dead letters" in purge.stdout
    assert box.status().counts == {"pending": 2, "in_flight": 0, "delivered": 1, "dead": 0}
    box.close()


@pytest.mark.network
def test_org_check_against_a_running_local_org_reports_everything_present(tmp_path, env):
    with LocalOrg(host="127.0.0.1") as org:
        result = run(
            ["org", "check", "--instance-url", org.instance_url, "--token", org.token],
            env,
            tmp_path,
        )
    assert result.returncode == 0, result.stderr
    assert "VoiceCall: 20 mapped fields present" in result.stdout
    assert "all objects and fields the mapping needs are present" in result.stdout


@pytest.mark.network
def test_org_check_lists_missing_fields_with_their_definitions(tmp_path):
    custom = tmp_path / "mapping.yaml"
    custom.write_text(
        DEFAULT_MAPPING_PATH.read_text().replace(
            "    Summary__c: summary\n\nevent:",
            "    Summary__c: summary\n    Sentiment__c: intent_confidence\n\nevent:",
        )
    )
    with LocalOrg(host="127.0.0.1") as org:
        report, ok = run_org_check(
            instance_url=org.instance_url, token=org.token, mapping_path=custom
        )
    assert not ok
    assert "missing (1): VoiceCall.Sentiment__c (missing)" in report
    assert "VoiceCall.Sentiment__c: Number(3, 2) [missing]" in report


@pytest.mark.network
def test_org_serve_prints_its_url_and_token_first(tmp_path, env):
    process = subprocess.Popen(
        [
            *WORKBENCH,
            "org",
            "serve",
            "--port",
            "0",
            "--token",
            "T0KEN",
            "--db",
            str(tmp_path / "org.sqlite"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert first.startswith("local org at http://127.0.0.1:")
    assert first.rstrip().endswith("token T0KEN")
