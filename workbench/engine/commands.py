"""Engine commands: `bench engine`, `bench judge`."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @bench.command("engine")
    def bench_engine(
        quick: Annotated[bool, typer.Option(help="Fewer calls.")] = False,
    ) -> None:
        """Engine overhead per frame, virtual-time speed-up, caller-side turn latency by endpointing."""
        from workbench.engine.bench import run_engine_bench

        typer.echo(json.dumps(run_engine_bench(quick=quick), indent=2))

    @bench.command("judge")
    def bench_judge(
        voice: Annotated[list[str] | None, typer.Option(help="Caller voice (repeatable).")] = None,
        mode: Annotated[str, typer.Option(help="Interruption mode: judge or pause.")] = "judge",
        quick: Annotated[bool, typer.Option(help="A third of the lines.")] = False,
    ) -> None:
        """The interruption judge on labelled lines spoken over the agent: accuracy, stop latency."""
        from workbench.engine.judge_bench import DEFAULT_VOICES, run_judge_bench

        report = run_judge_bench(voice or DEFAULT_VOICES, mode=mode, quick=quick)
        typer.echo(json.dumps(report, indent=2))
