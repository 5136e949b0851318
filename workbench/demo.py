"""`workbench demo`: a whole call on the embedded defaults, printed in the terminal.

A known customer (Dana Whitfield, a VIP contact in the local org's demo data) phones the demo
agent; the agent looks her up, greets her by name, answers, and the call is written to the
org through the outbox. The transcript, each turn's waterfall and the CRM records are printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from workbench.speech.ears import EAR_HELP, check_ear

DEMO_CALLER = "+14155550101"  # Dana Whitfield, Contoso (VIP) in the local org's demo data
DEMO_LINES = [
    "What are your opening hours?",
    "I would also like to book a demo.",
    "My name is Dana Whitfield.",
    "Yes, that's right.",
    "dana at example dot com",
    "Yes, that's right.",
    "Next Tuesday afternoon.",
    "Yes, that's right.",
    "The first one please.",
    "No, that's all. Thank you.",
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
        crm: Annotated[
            bool, typer.Option(help="Look the caller up and write the call to the org.")
        ] = True,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the call as JSON.")
        ] = None,
        chrome_trace: Annotated[
            Path | None, typer.Option("--chrome-trace", help="Write a Chrome/Perfetto trace.")
        ] = None,
        ear: Annotated[
            str | None, typer.Option("--ear", help=EAR_HELP + " Default: accurate.")
        ] = None,
    ) -> None:
        """A scripted caller phones the demo agent; prints the transcript, waterfalls and CRM records."""
        from datetime import UTC, datetime

        from rich.console import Console
        from rich.table import Table

        from workbench.audio.network import NetworkConditions
        from workbench.engine.calls import CallRuntime, run_call, say_lines_caller
        from workbench.engine.endpointing import make_endpointer
        from workbench.engine.report import call_to_dict, print_call
        from workbench.engine.session import SessionSettings
        from workbench.engine.trace import write_chrome_trace

        console = Console()
        if ear is not None:
            check_ear(ear)
        make_endpointer(endpointing)
        conditions = NetworkConditions.preset(network)
        runtime = CallRuntime()
        sink = None
        caller = None
        with console.status("loading the agent, the speech models and the local org…"):
            runtime.stack(runtime.agent(agent))
            if crm:
                from workbench.crm.from_call import known_caller_context
                from workbench.crm.sink import CrmSink

                sink = CrmSink.from_settings()
                caller = known_caller_context(DEMO_CALLER, sink.lookup_caller(DEMO_CALLER))
        try:
            started = datetime.now(UTC)
            with console.status("calling the agent…"):
                result = run_call(
                    runtime,
                    say_lines_caller(DEMO_LINES, number=DEMO_CALLER),
                    agent_path=agent,
                    settings=SessionSettings(endpointing=endpointing),
                    network=conditions,
                    realtime=realtime,
                    caller_context=caller,
                    ear=ear,
                    default_ear="accurate",
                )
            if caller is not None:
                console.print(
                    f"CRM: caller {DEMO_CALLER} is {caller.name} ({caller.account}, VIP: {caller.vip})"
                )
            print_call(console, result, title=f"demo call · {heard_with(result)} ear")
            if sink is not None:
                from workbench.crm.from_call import call_events, record_from_result

                sink.write_call(record_from_result(result, started_at=started))
                for event in call_events(result.call_id, result.events, started):
                    sink.publish_event(event)
                with console.status("delivering the call to the org…"):
                    sink.worker.drain(timeout_s=30)
                table = Table(title=f"written to the {sink.target}", title_justify="left")
                for column in ("object", "record"):
                    table.add_column(column)
                for obj, records in sink.records_for_call(result.call_id).items():
                    for record in records:
                        table.add_row(
                            obj,
                            ", ".join(f"{k}={v}" for k, v in record.items() if v not in (None, "")),
                        )
                console.print(table)
            if json_out is not None:
                json_out.write_text(json.dumps(call_to_dict(result), indent=1))
            if chrome_trace is not None:
                write_chrome_trace(chrome_trace, result.timelines, result.call_id)
        finally:
            if sink is not None:
                sink.close()


def heard_with(result) -> str:
    """The ear the call listened with, as its `CallStarted` settings say (not as asked)."""
    from workbench.engine import events as ev

    started = next((e for e in result.events if isinstance(e, ev.CallStarted)), None)
    return str(started.settings.get("ear", "?")) if started is not None else "?"
