"""`pytest <folder of scenarios>` collects each scenario file as a test item."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

CONFTEST = "from workbench.scenario.pytest_plugin import pytest_collect_file  # noqa: F401\n"


def make_suite(root: Path) -> Path:
    folder = root / "suite"
    folder.mkdir()
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "hours.yaml").write_text(
        "name: hours\ntags: [smoke]\nsteps:\n  - say: What are your opening hours?\n"
    )
    (folder / "nested").mkdir()
    (folder / "nested" / "human.yaml").write_text(
        "name: ask-for-a-human\nsteps:\n  - say: Can I speak to a human?\n"
    )
    (folder / "broken.yaml").write_text(
        textwrap.dedent(
            """
            name: broken
            steps:
              - say: hello
                expct: {topic: X}
            """
        ).lstrip()
    )
    return folder


def pytest_in(folder: Path, *args: str, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, WORKBENCH_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, str(folder)],
        cwd=folder.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_scenario_file_becomes_a_test_item(tmp_path):
    folder = make_suite(tmp_path)
    run = pytest_in(folder, "--collect-only", "-q", home=tmp_path / "home")
    items = [line for line in run.stdout.splitlines() if "::" in line]
    assert sorted(items) == [
        "suite/broken.yaml::broken",
        "suite/hours.yaml::hours",
        "suite/nested/human.yaml::ask-for-a-human",
    ]


def test_tags_select_scenarios(tmp_path):
    folder = make_suite(tmp_path)
    run = pytest_in(folder, "--collect-only", "-q", "-k", "smoke", home=tmp_path / "home")
    assert [line for line in run.stdout.splitlines() if "::" in line] == ["suite/hours.yaml::hours"]


def test_an_invalid_scenario_fails_with_its_validation_problem(tmp_path):
    folder = make_suite(tmp_path)
    run = pytest_in(folder / "broken.yaml", "-q", home=tmp_path / "home")
    assert run.returncode == 1
    assert f"{folder / 'broken.yaml'}:4:5: steps[0].expct: unknown field" in run.stdout
    assert "Traceback" not in run.stdout
