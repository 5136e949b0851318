"""The second bundled agent (a dental clinic): written in the documented format only, with at
least ten scenarios, and its suite passes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from workbench.paths import ASSETS_DIR, REPO_ROOT
from workbench.scenario.check import check_paths

DENTAL = ASSETS_DIR / "agents" / "dental"


def test_it_is_yaml_and_markdown_only_and_checks_clean():
    kinds = {p.suffix for p in DENTAL.rglob("*") if p.is_file()}
    assert kinds == {".yaml", ".md"}
    result = check_paths([DENTAL])
    assert result.problems == []
    assert len(result.scenarios) >= 10


def test_it_covers_booking_with_a_date_of_birth_cancelling_insurance_and_emergencies():
    result = check_paths([DENTAL])
    topics = {s.expect.topic for s in result.scenarios} | {
        step.expect.topic
        for s in result.scenarios
        for step in s.steps
        if getattr(step, "expect", None) is not None and step.expect.topic
    }
    assert {"BookAppointment", "CancelAppointment", "InsuranceQuestion", "Emergency"} <= topics


@pytest.mark.slow
def test_its_suite_passes():
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "run", str(DENTAL / "scenarios"), "-j", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ", 0 failed of 13 scenarios" in done.stdout
