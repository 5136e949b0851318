"""`workbench new agent DIR`: a small agent that checks clean and whose scenarios pass as written."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from workbench.agent.scaffold import new_agent
from workbench.cli import app
from workbench.errors import ConfigError, InputFileError
from workbench.paths import REPO_ROOT
from workbench.scenario.check import check_paths


def test_the_new_agent_has_three_topics_knowledge_a_lexicon_and_three_scenarios(tmp_path):
    written = new_agent(tmp_path / "plumber", "Acme Plumbing")
    names = sorted(str(p.relative_to(tmp_path / "plumber")) for p in written)
    assert names == [
        "agent.yaml",
        "knowledge/hours.md",
        "lexicon.yaml",
        "scenarios/book-callback.yaml",
        "scenarios/opening-hours.yaml",
        "scenarios/speak-to-human.yaml",
    ]
    result = check_paths([tmp_path / "plumber"])
    assert result.problems == []
    assert len(result.scenarios) == 3
    assert "Acme Plumbing is open" in (tmp_path / "plumber/knowledge/hours.md").read_text()


def test_it_refuses_a_folder_with_files_and_an_odd_company_name(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(InputFileError, match="already exists and is not empty"):
        new_agent(tmp_path / "taken", "Acme")
    with pytest.raises(ConfigError, match="company name"):
        new_agent(tmp_path / "new", "Acme: {evil}")


def test_the_command_prints_the_files_and_what_to_do_next(tmp_path):
    result = CliRunner().invoke(
        app, ["new", "agent", str(tmp_path / "a"), "--company", "Bo's Bikes"]
    )
    assert result.exit_code == 0, result.output
    assert f"next: workbench check {tmp_path / 'a'}" in result.output


@pytest.mark.slow
def test_its_scenarios_pass_out_of_the_box(tmp_path):
    new_agent(tmp_path / "plumber", "Acme Plumbing")
    env = dict(os.environ, WORKBENCH_HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "run", str(tmp_path / "plumber" / "scenarios")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed, 0 failed of 3 scenarios" in done.stdout
