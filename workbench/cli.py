"""The `workbench` command: one entry point, sub-commands contributed by each area.

Each area keeps its commands beside its code in a `commands.py` module with a
`register(app, bench)` function; `bench` is the `workbench bench …` group. Command bodies
import their heavy dependencies lazily so `workbench --help` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import sys

import typer

from workbench.errors import WorkbenchError

COMMAND_MODULES = (
    "workbench.speech.commands",
    "workbench.agent.commands",
    "workbench.engine.commands",
    "workbench.scenario.commands",
    "workbench.crm.commands",
    "workbench.telephony.commands",
    "workbench.load_commands",
    "workbench.demo",
    "workbench.ui.commands",
)

app = typer.Typer(
    help="Voice Agent Workbench: build, call, measure and load-test AI voice agents on a laptop.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
bench = typer.Typer(
    help="Benchmarks that print one JSON object (see BENCHMARKS.md).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(bench, name="bench")


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        if importlib.util.find_spec(name) is None:  # an area not built yet
            continue
        importlib.import_module(name).register(app, bench)


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a `WorkbenchError` becomes one line on stderr and exit code 2."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(args=argv, prog_name="workbench")
    except WorkbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
