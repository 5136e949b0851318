"""pytest collects scenario files as tests: `pytest path/to/my-scenarios/` runs them.

Activation: the package registers this module as a pytest plugin (the `pytest11` entry point
in pyproject.toml), so installing the workbench is enough: no conftest is needed. A YAML file
is collected when it is a scenario, that is, it has a top-level `steps:` key and is not one of
an agent's own files (a folder holding `agent.yaml`); other YAML files are left alone, so the
plugin changes nothing for test suites without scenarios.

Each item places its call in virtual time with one `CallRuntime` shared by the session (the
agent and speech stack load once), checks `crm` expectations against a throwaway local org,
and fails with the failing expectations and their evidence, then the transcript. A file that
does not validate is one failing item whose message is the validation problems.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import InputFileError


class ScenarioFailed(Exception):
    """A scenario's expectations failed (the message is the readable report)."""


_STEPS = re.compile(r"^steps\s*:", re.MULTILINE)


def is_scenario_file(path: Path) -> bool:
    """A scenario by its shape (a top-level `steps:`), even when the rest does not parse: a
    broken scenario must fail as a test, not vanish from the suite."""
    if path.suffix != ".yaml" or path.name.startswith("."):
        return False
    if (path.parent / "agent.yaml").is_file():
        return False
    try:
        return bool(_STEPS.search(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    def collect(self):
        from workbench.scenario.check import require_valid

        try:
            # The checks of `workbench check`: the file, its agent and the names it uses.
            (scenario,) = require_valid([self.path], after="")
        except InputFileError as error:
            yield ScenarioItem.from_parent(
                self, name=self.path.stem, scenario=None, problem=str(error)
            )
            return
        item = ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario, problem=None)
        for tag in scenario.tags:
            item.user_properties.append(("tag", tag))
            item.extra_keyword_matches.add(tag)  # `pytest scenarios/ -k smoke` selects by tag
        yield item


class _Session:
    """One runtime and CRM verifier per pytest session."""

    def __init__(self, config: pytest.Config) -> None:
        from workbench.engine.calls import CallRuntime
        from workbench.scenario.crm_check import CrmVerifier

        self.runtime = CallRuntime()
        self.crm = CrmVerifier()
        config.add_cleanup(self.crm.close)


_SESSION_KEY = pytest.StashKey[_Session]()


def _session(config: pytest.Config) -> _Session:
    if _SESSION_KEY not in config.stash:
        config.stash[_SESSION_KEY] = _Session(config)
    return config.stash[_SESSION_KEY]


class ScenarioItem(pytest.Item):
    def __init__(self, *, scenario: Any, problem: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.problem = problem
        self.result: Any = None

    def runtest(self) -> None:
        if self.problem is not None:
            raise ScenarioFailed(self.problem)
        from workbench.scenario.runner import run_scenario

        state = _session(self.config)
        self.result = run_scenario(self.scenario, state.runtime, crm_check=state.crm)
        if not self.result.passed:
            raise ScenarioFailed(failure_text(self.result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario {self.name}"


def failure_text(result: Any) -> str:
    """The readable failure: what failed, the evidence, then the transcript."""
    lines = [f"scenario {result.scenario.name} ({result.scenario.source}) failed"]
    if result.error:
        lines.append(f"  error: {result.error}")
    for outcome in result.failures:
        lines.append(f"  ✗ {outcome.where}: {outcome.expectation} expected {outcome.expected}")
        lines.append(f"      evidence: {outcome.evidence}")
    for outcome in result.outcomes:
        if outcome.status == "skip":
            lines.append(f"  - {outcome.where}: {outcome.expectation}: {outcome.evidence}")
    if result.call is not None:
        lines.append("  transcript:")
        lines += [f"    {speaker:>6}: {text}" for speaker, text in result.call.transcript]
        lines.append(f"  ended: {result.call.end_reason} at {result.call.duration_ms / 1000:.1f} s")
    return "\n".join(lines)
