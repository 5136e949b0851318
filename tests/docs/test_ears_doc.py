"""docs/ears.md: every YAML snippet loads as the format it shows, and every command line it
shows names options the command has."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workbench.paths import DEMO_AGENT_DIR, REPO_ROOT

DOC = REPO_ROOT / "docs" / "ears.md"
WORKBENCH = Path(sys.executable).parent / "workbench"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_agent_snippet_is_valid_agent_yaml(tmp_path):
    from workbench.agent import load_agent

    snippet = yaml.safe_load(blocks("yaml")[0])
    agent_dir = tmp_path / "agent"
    shutil.copytree(DEMO_AGENT_DIR, agent_dir)
    path = agent_dir / "agent.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({**data, **snippet}, sort_keys=False), encoding="utf-8")
    agent = load_agent(agent_dir)
    assert agent.definition.ear == "accurate"
    assert "Zentrix" in agent.vocabulary()
    assert "Zentrix Cloud" in agent.domain_sentences()


def test_the_scenario_snippet_is_a_valid_scenario(tmp_path):
    from workbench.scenario.schema import load_scenario

    path = tmp_path / "scenario.yaml"
    path.write_text(blocks("yaml")[1], encoding="utf-8")
    assert load_scenario(path).ear == "fast"


@pytest.mark.parametrize("line", [line for b in blocks("bash") for line in b.splitlines()])
def test_every_command_line_uses_options_the_command_has(line):
    words = shlex.split(line.split("#")[0])
    command = words[1]
    options = [w.split("=")[0] for w in words[2:] if w.startswith("--")]
    done = subprocess.run(
        [str(WORKBENCH), command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for option in options:
        assert option in done.stdout, f"{command} has no {option}"
