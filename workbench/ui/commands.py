"""`workbench gui` and `workbench screenshots`: the desktop app's commands (Qt imported lazily)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.speech.ears import EAR_HELP, check_ear

GUI_EAR_HELP = EAR_HELP + " Default: accurate (the call panel's Ear selector can change it)."


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("gui")
    def gui(
        agent: Annotated[
            Path | None,
            typer.Option(help="Agent directory (default: the last one used, or the demo agent)"),
        ] = None,
        smoke: Annotated[
            bool,
            typer.Option(
                "--smoke",
                help="Offscreen: place one typed call, print JSON measurements, exit 0 if it worked",
            ),
        ] = False,
        ear: Annotated[str | None, typer.Option("--ear", help=GUI_EAR_HELP)] = None,
    ) -> None:
        """Open the desktop workbench: softphone, transcript, waterfall, inspector, panels."""
        from workbench.errors import ConfigError

        if ear is not None:
            check_ear(ear)

        if agent is not None and not (agent / "agent.yaml").is_file():
            raise ConfigError(f"{agent}: --agent: no agent.yaml in this directory")
        try:
            from workbench.ui.app import run_gui
        except ImportError as error:
            raise ConfigError(
                f"the desktop app needs PySide6 and pyqtgraph ({error}); "
                "install the 'gui' extra: pip install -e '.[gui]'"
            ) from None
        code = run_gui(agent_path=agent, smoke=smoke, ear=ear)
        if code:
            sys.exit(code)

    @app.command("screenshots")
    def screenshots(
        out_dir: Annotated[Path, typer.Argument(help="Where to write the PNGs")] = Path(
            "docs/screenshots"
        ),
        ear: Annotated[
            str | None, typer.Option("--ear", help=EAR_HELP + " Default: accurate.")
        ] = None,
    ) -> None:
        """Render each panel after a scripted demo call to PNG files (offscreen)."""
        from workbench.ui.screenshots import render_screenshots

        if ear is not None:
            check_ear(ear)
        for path in render_screenshots(out_dir, ear=ear):
            print(path)
