"""A scenario run as the panel shows it: pass/fail, the failing expectation, its evidence and
the turn it happened in (no Qt).

The scenario runner judges (`ScenarioResult.outcomes`); this only picks the first failure and
finds its turn: the outcome names its step ("step 3: say '…'"), and the step's window of the
call holds the turn(s) that answered it.
"""

from __future__ import annotations

import re
from typing import Any

from workbench.ui.messages import ScenarioFinished


def verdict(path: str, result: Any) -> ScenarioFinished:
    """The panel's view of a `workbench.scenario.runner.ScenarioResult`."""
    name = result.scenario.name
    if result.error:
        return ScenarioFinished(path, name, False, error=result.error, call=result.call)
    failures = list(result.failures)
    if not failures:
        return ScenarioFinished(path, name, True, call=result.call)
    first = failures[0]
    failure = f"{first.where}: {first.expectation} {first.expected}".strip()
    if len(failures) > 1:
        failure += f" (+{len(failures) - 1} more)"
    return ScenarioFinished(
        path,
        name,
        False,
        failure=failure,
        evidence=first.evidence,
        failing_turn=failing_turn(result, first.where),
        call=result.call,
    )


def failing_turn(result: Any, where: str) -> int | None:
    """The first turn in the window of the step named by `where`, if any."""
    found = re.match(r"step (\d+)", where)
    if not found or result.call is None:
        return None
    from workbench.scenario.assertions import windows

    step = int(found.group(1)) - 1
    window = windows(result.scenario, result.caller, result.call).get(step)
    if window is None or not window.timelines:
        return None
    return window.timelines[0].turn
