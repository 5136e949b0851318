"""The terminal summary of a scenario run: pass/fail per scenario, failures with evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.engine.scorecard import Scorecard
from workbench.scenario.runner import ScenarioResult
from workbench.scenario.summary import outcomes_line, overlap_line, suite_summary
from workbench.scenario.turn_taking import premature_endpoints


def print_result_line(console: Any, result: ScenarioResult) -> None:
    """One line as a scenario finishes (and its failures under it)."""
    mark = "[bold green]PASS[/]" if result.passed else "[bold red]FAIL[/]"
    call = result.call
    extra = (
        f"{call.duration_ms / 1000:.1f} s call in {result.wall_s:.1f} s, ended {call.end_reason}"
        if call is not None
        else "no call"
    )
    console.print(f"{mark} {result.scenario.name} [dim]({extra})[/]", highlight=False)
    card = result.scorecard
    if card is not None:
        console.print(f"     [dim]scorecard: {scorecard_line(card)}[/]", highlight=False)
    voice_call = result.voice_call
    if voice_call is not None:
        console.print(
            f"     [dim]call: {voice_call['intent']} — {voice_call['summary']}[/]",
            highlight=False,
        )
    if result.error:
        console.print(f"     [red]error:[/] {result.error}", highlight=False)
    for outcome in result.failures:
        console.print(
            f"     [red]✗[/] {outcome.where}: [bold]{outcome.expectation}[/] expected "
            f"{outcome.expected}\n         evidence: {outcome.evidence}",
            highlight=False,
        )
    for early in premature_endpoints(call, result.caller) if call is not None else []:
        if not early.overlap_ms:
            continue  # taken back before the caller heard anything: counted in the summary
        console.print(
            f"     [yellow]![/] premature endpoint at {early.endpoint_ms / 1000:.2f} s in step "
            f"{early.step + 1} (the caller went on until {early.speech_end_ms / 1000:.2f} s; "
            f"{early.overlap_ms:.0f} ms of agent audio over it)",
            highlight=False,
        )
    for overlap in call.overlaps if call is not None else []:
        mark = "[green]·[/]" if overlap.correct else "[red]![/]"
        console.print(f"     {mark} {overlap_line(overlap)}", highlight=False)
    skipped = [o for o in result.outcomes if o.status == "skip"]
    for outcome in skipped:
        console.print(
            f"     [yellow]-[/] {outcome.where}: {outcome.expectation}: {outcome.evidence}",
            highlight=False,
        )


def scorecard_line(card: Scorecard) -> str:
    """One line: resolution, task success per topic, turns, re-prompts, latency, overlaps."""
    topics = ", ".join(f"{t.topic} {'✓' if t.success else '✗'}" for t in card.topics) or "none"
    latency = card.latency_ms
    lat = (
        f"p50 {latency['p50']} / p95 {latency['p95']} / max {latency['max']} ms"
        if latency.get("turns")
        else "no turns"
    )
    counts = card.interruptions["counts"]
    overlaps = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "none"
    return (
        f"{card.resolution}; topics {topics}; {card.turns} turns, {card.reprompts} re-prompts "
        f"({card.no_matches} no-match), {card.premature_endpoints} premature endpoints; "
        f"latency {lat}; overlaps {overlaps}; "
        f"CRM records {card.crm.get('records', 0)}"
    )


def print_failed_transcript(console: Any, result: ScenarioResult) -> None:
    if result.call is None:
        return
    console.print(f"  [dim]transcript of {result.scenario.name}:[/]")
    for speaker, text in result.call.transcript:
        style = "cyan" if speaker == "caller" else "green"
        console.print(f"    [{style}]{speaker:>6}[/] {text}", highlight=False)


def print_summary(console: Any, results: Sequence[ScenarioResult], wall_s: float) -> None:
    summary = suite_summary(results, wall_s)
    passed, failed = summary["passed"], summary["failed"]
    style = "bold green" if failed == 0 else "bold red"
    console.print(
        f"[{style}]{passed} passed, {failed} failed[/] of {summary['scenarios']} scenarios "
        f"in {wall_s:.1f} s (virtual call time {summary['call_time_s']:.0f} s)",
        highlight=False,
    )
    latency = summary["turn_latency_ms"]
    if latency.get("turns"):
        console.print(
            f"turn latency at the caller: p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, "
            f"max {latency['max_ms']} ms over {latency['turns']} turns",
            highlight=False,
        )
    barge = summary["barge_in_stop_ms"]
    if barge.get("count"):
        console.print(
            f"barge-in stop at the caller: p50 {barge['p50_ms']} ms, p95 {barge['p95_ms']} ms "
            f"over {barge['count']} barge-ins",
            highlight=False,
        )
    if summary["overlaps"]["overlaps"]:
        console.print(outcomes_line(summary["overlaps"]), highlight=False)
    console.print(
        f"abandoned replies (false interruptions): {summary['false_interruptions']}",
        highlight=False,
    )
    early = summary["premature_endpoints"]
    console.print(
        f"premature endpoints: {early['count']} ({early['overlap_ms']:.0f} ms of agent audio "
        f"over the caller; {early['taken_back']} more decided early, taken back unheard)",
        highlight=False,
    )
    card = summary["scorecard"]
    if card["calls"]:
        resolved = ", ".join(f"{n} {r}" for r, n in card["resolutions"].items() if n)
        console.print(
            f"containment (AI-resolved): {card['containment']:.0%} of {card['calls']} calls "
            f"({resolved})",
            highlight=False,
        )
