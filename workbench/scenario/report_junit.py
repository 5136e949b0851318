"""JUnit XML for CI systems: one `<testcase>` per scenario, failures with their evidence."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from workbench.scenario.runner import ScenarioResult
from workbench.scenario.summary import overlap_line


def junit_xml(results: Sequence[ScenarioResult], wall_s: float, suite: str = "scenarios") -> str:
    failures = sum(1 for r in results if r.error is None and not r.passed)
    errors = sum(1 for r in results if r.error is not None)
    root = ET.Element("testsuites", name=suite, tests=str(len(results)))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", f"{wall_s:.3f}")
    element = ET.SubElement(
        root,
        "testsuite",
        name=suite,
        tests=str(len(results)),
        failures=str(failures),
        errors=str(errors),
        skipped="0",
        time=f"{wall_s:.3f}",
    )
    for result in results:
        scenario = result.scenario
        case = ET.SubElement(
            element,
            "testcase",
            classname=f"{suite}.{Path(str(scenario.source)).stem}",
            name=scenario.name,
            file=str(scenario.source),
            time=f"{result.wall_s:.3f}",
        )
        if result.error is not None:
            ET.SubElement(
                case, "error", message=result.error, type="ScenarioError"
            ).text = result.error
        elif result.failures:
            first = result.failures[0]
            failure = ET.SubElement(
                case,
                "failure",
                message=f"{len(result.failures)} expectation(s) failed: "
                f"{first.where}: {first.expectation} expected {first.expected}",
                type="ExpectationFailed",
            )
            failure.text = "\n".join(o.line() for o in result.failures)
        lines = [o.line() for o in result.outcomes]
        if result.call is not None:
            lines += [f"overlap: {overlap_line(o)}" for o in result.call.overlaps]
            lines.append("")
            lines += [f"{speaker:>6}: {text}" for speaker, text in result.call.transcript]
        ET.SubElement(case, "system-out").text = "\n".join(lines)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def write_junit(path: str | Path, results: Sequence[ScenarioResult], wall_s: float) -> Path:
    path = Path(path)
    path.write_text(junit_xml(results, wall_s), encoding="utf-8")
    return path
