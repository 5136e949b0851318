"""Engine commands: `bench engine`."""

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
