"""`workbench run`: scripted calls through the whole audio pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def run(
        paths: Annotated[list[Path], typer.Argument(help="Scenario files or directories.")],
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write everything as JSON.")
        ] = None,
        realtime: Annotated[
            bool, typer.Option("--realtime", help="Pace on the wall clock.")
        ] = False,
        profile: Annotated[
            str | None,
            typer.Option(help="Latency profile: measured, fixed, a bundled name or a file."),
        ] = None,
        endpointing: Annotated[
            str | None,
            typer.Option(help="Override the scenarios' endpointing: silence or semantic."),
        ] = None,
    ) -> None:
        """Run scripted calls in virtual time; print transcripts, waterfalls and p50/p95."""
        from rich.console import Console

        from workbench.engine.calls import CallRuntime
        from workbench.engine.endpointing import make_endpointer
        from workbench.engine.latency import load_profile
        from workbench.engine.report import call_to_dict, print_call
        from workbench.scenario.runner import run_scenario
        from workbench.scenario.schema import find_scenarios, load_scenario

        if endpointing is not None:
            make_endpointer(endpointing)  # reject an unknown mode before any work
        if profile is not None:
            load_profile(profile)
        scenarios = [load_scenario(p) for p in find_scenarios(paths)]
        console = Console()
        runtime = CallRuntime()
        results = []
        for scenario in scenarios:
            with console.status(f"running {scenario.name}…"):
                result = run_scenario(
                    scenario, runtime, realtime=realtime, profile=profile, endpointing=endpointing
                )
            print_call(console, result.call, title=f"{scenario.name} ({scenario.source})")
            results.append(result)
        if json_out is not None:
            payload = {
                "scenarios": [
                    {
                        "name": r.scenario.name,
                        "file": str(r.scenario.source),
                        **call_to_dict(r.call),
                    }
                    for r in results
                ]
            }
            json_out.write_text(json.dumps(payload, indent=1))
            console.print(f"wrote {json_out}")
