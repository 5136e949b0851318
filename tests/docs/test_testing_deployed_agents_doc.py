"""docs/testing-deployed-agents.md: its scenario is the one the Pipecat test calls, the phrases
it quotes are the ones the test bot says, and every command line it shows names options its
program has (the bot's are read from its argparse calls: its virtualenv may not be here)."""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from support.pipecat_target import BOT, GREETING, REPLY, SCENARIO

from workbench.paths import REPO_ROOT

DOC = REPO_ROOT / "docs" / "testing-deployed-agents.md"
WORKBENCH = Path(sys.executable).parent / "workbench"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_scenario_shown_is_the_one_the_pipecat_test_calls():
    [shown] = blocks("yaml")
    assert shown == SCENARIO.read_text(encoding="utf-8")


def test_the_phrases_quoted_are_the_ones_the_test_bot_says():
    text = re.sub(r"\s+", " ", DOC.read_text(encoding="utf-8"))
    assert f'"{GREETING}"' in text and f'"{REPLY}"' in text


def command_lines() -> list[str]:
    lines = [line for block in blocks("bash") for line in block.splitlines() if line.strip()]
    assert len(lines) >= 6
    return lines


def bot_options() -> set[str]:
    tree = ast.parse(BOT.read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "add_argument"
        and isinstance(node.args[0], ast.Constant)
    }


@pytest.mark.parametrize("line", command_lines())
def test_every_command_line_uses_options_its_program_has(line):
    words = [w for w in shlex.split(line.split("#")[0]) if "=" not in w or w.startswith("--")]
    options = [w.split("=")[0] for w in words if w.startswith("--")]
    if "pipecat_bot.py" in line:
        assert set(options) <= bot_options()
        return
    if words[0] == "bash":
        assert words[1] == "scripts/setup" and (REPO_ROOT / "scripts/setup").is_file()
        return
    command = words[words.index("workbench") + 1 : words.index("workbench") + 2]
    done = subprocess.run(
        [str(WORKBENCH), *command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    help_text = re.sub(r"\s+", " ", done.stdout)
    for option in options:
        assert option in help_text, f"{' '.join(command)} has no {option}"
