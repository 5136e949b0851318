"""`pytest <folder of scenarios>` collects each scenario file as a test item, with no conftest:
the package registers the plugin through its `pytest11` entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def installed_entry_points(root: Path) -> Path:
    """A site directory where the package's declared entry points are installed, as pip does
    (a dist-info with entry_points.txt): pytest finds plugins through exactly this metadata."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    site = root / "site"
    info = site / "workbench_entry_points-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: workbench-entry-points\nVersion: 0\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


def make_suite(root: Path) -> Path:
    folder = root / "suite"
    folder.mkdir()
    (folder / "notes.yaml").write_text("not: a scenario\n")  # other YAML is left alone
    agent = folder / "my-agent"
    shutil.copytree(ROOT / "assets" / "agents" / "northwind", agent)  # an agent's files neither
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
    site = installed_entry_points(home.parent / "entry")
    env = dict(
        os.environ,
        WORKBENCH_HOME=str(home),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(site)]),
    )
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


def test_a_scenario_naming_a_topic_its_agent_lacks_fails_with_the_check(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    (folder / "typo.yaml").write_text(
        "name: typo\nsteps:\n  - say: What are your opening hours?\n"
        "    expect: {topic: OpeningHour}\n"
    )
    run = pytest_in(folder, "-q", home=tmp_path / "home")
    assert run.returncode == 1
    assert "the agent has no topic 'OpeningHour' (did you mean 'OpeningHours'?)" in run.stdout
    assert "Traceback" not in run.stdout
