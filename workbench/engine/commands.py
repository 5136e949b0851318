"""Engine commands: `demo` (a whole call, printed) and `bench engine`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

DEMO_LINES = [
    "Hi, what are your opening hours?",
    "Great. I would also like to book a demo.",
    "My name is Dana Whitfield.",
    "No, that's all. Thank you, bye.",
]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def demo(
        agent: Annotated[
            Path | None, typer.Option(help="Agent directory (default: the demo agent).")
        ] = None,
        endpointing: Annotated[str, typer.Option(help="semantic or silence.")] = "semantic",
        network: Annotated[
            str, typer.Option(help="Network preset for the caller's leg.")
        ] = "clean",
        realtime: Annotated[
            bool, typer.Option("--realtime", help="Pace on the wall clock.")
        ] = False,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the call as JSON.")
        ] = None,
        chrome_trace: Annotated[
            Path | None, typer.Option("--chrome-trace", help="Write a Chrome/Perfetto trace.")
        ] = None,
    ) -> None:
        """A scripted caller phones the demo agent; prints the transcript and each turn's waterfall."""
        from rich.console import Console

        from workbench.audio.network import NetworkConditions
        from workbench.engine.calls import CallRuntime, run_call, say_lines_caller
        from workbench.engine.report import call_to_dict, print_call
        from workbench.engine.session import SessionSettings
        from workbench.engine.trace import write_chrome_trace

        console = Console()
        conditions = NetworkConditions.preset(network)
        runtime = CallRuntime()
        with console.status("loading the agent and the speech models…"):
            runtime.stack(runtime.agent(agent))
        with console.status("calling the agent…"):
            result = run_call(
                runtime,
                say_lines_caller(DEMO_LINES),
                agent_path=agent,
                settings=SessionSettings(endpointing=endpointing),
                network=conditions,
                realtime=realtime,
            )
        print_call(console, result, title="demo call")
        if json_out is not None:
            json_out.write_text(json.dumps(call_to_dict(result), indent=1))
        if chrome_trace is not None:
            write_chrome_trace(chrome_trace, result.timelines, result.call_id)

    @bench.command("engine")
    def bench_engine(
        quick: Annotated[bool, typer.Option(help="Fewer calls.")] = False,
    ) -> None:
        """Engine overhead per frame, virtual-time speed-up, caller-side turn latency by endpointing."""
        from workbench.engine.bench import run_engine_bench

        typer.echo(json.dumps(run_engine_bench(quick=quick), indent=2))
