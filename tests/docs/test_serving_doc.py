"""docs/serving.md: the signature snippet computes Twilio's published value, every command line
it shows names options its command has, and the busy message is the one the server says."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.paths import REPO_ROOT
from workbench.telephony.server import BUSY_MESSAGE

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
