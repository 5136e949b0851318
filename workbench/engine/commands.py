"""Engine commands: `bench engine`, `bench judge`, `bench ear`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from workbench.speech.ears import EAR_HELP, check_ear


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @bench.command("engine")
    def bench_engine(
        quick: Annotated[bool, typer.Option(help="Fewer calls.")] = False,
        ear: Annotated[
            str | None,
            typer.Option("--ear", help=EAR_HELP + " Default: fast (the engine's own overhead)."),
        ] = None,
    ) -> None:
        """Engine overhead per frame, virtual-time speed-up, caller-side turn latency by endpointing."""
        from workbench.engine.bench import run_engine_bench

        if ear is not None:
            check_ear(ear)
        typer.echo(json.dumps(run_engine_bench(quick=quick, ear=ear), indent=2))

    @bench.command("judge")
    def bench_judge(
        voice: Annotated[list[str] | None, typer.Option(help="Caller voice (repeatable).")] = None,
        mode: Annotated[str, typer.Option(help="Interruption mode: pause or judge.")] = "pause",
        quick: Annotated[bool, typer.Option(help="A third of the lines.")] = False,
        ear: Annotated[str | None, typer.Option("--ear", help=EAR_HELP + " Default: fast.")] = None,
        noisy: Annotated[
            str | None,
            typer.Option(
                help="Labelled lines over babble, line noise, coughs, breaths and doors, "
                "and noise alone: tune or heldout (the half never tuned on)."
            ),
        ] = None,
    ) -> None:
        """The interruption judge on labelled lines spoken over the agent: accuracy, stop latency."""
        from workbench.engine.judge_bench import DEFAULT_VOICES, run_judge_bench

        if ear is not None:
            check_ear(ear)
        report = run_judge_bench(
            voice or DEFAULT_VOICES, mode=mode, quick=quick, ear=ear, noisy=noisy
        )
        typer.echo(json.dumps(report, indent=2))

    @bench.command("endpoints")
    def bench_endpoints(
        split: Annotated[
            str, typer.Option(help="tune, or heldout (the half never tuned on).")
        ] = "heldout",
        ear: Annotated[str | None, typer.Option("--ear", help=EAR_HELP + " Default: fast.")] = None,
        complete_ms: Annotated[
            float | None,
            typer.Option(
                "--complete-ms",
                min=0,
                help="Semantic wait after complete-sounding words (default 160): the trade-off.",
            ),
        ] = None,
    ) -> None:
        """Premature endpoints on sentences with a 300–600 ms pause in the middle; turn latency."""
        from workbench.engine.endpoint_bench import run_endpoint_bench

        if ear is not None:
            check_ear(ear)
        report = run_endpoint_bench(split, ear=ear, complete_ms=complete_ms)
        typer.echo(json.dumps(report, indent=2))

    @bench.command("ear")
    def bench_ear(
        quick: Annotated[bool, typer.Option(help="A few sentences, one voice, one call.")] = False,
        sentences: Annotated[
            Path | None,
            typer.Option(help="Caller sentences to hear (default: the held-out set)."),
        ] = None,
        agent: Annotated[
            Path | None, typer.Option(help="Agent whose vocabulary both ears learn.")
        ] = None,
    ) -> None:
        """WER of each ear per voice and network, the final pass's cost, turn latency per ear."""
        import logging

        from workbench.engine.ear_bench import HELDOUT_SENTENCES, run_ear_bench
        from workbench.paths import DEMO_AGENT_DIR

        logging.getLogger("workbench.engine.ear_bench").setLevel(logging.INFO)
        report = run_ear_bench(
            quick=quick,
            sentences_path=sentences or HELDOUT_SENTENCES,
            agent_dir=agent or DEMO_AGENT_DIR,
        )
        typer.echo(json.dumps(report, indent=2))
