"""`workbench serve`'s entry point: serve in this process, or supervise worker processes.

Apart from `serving.py` and `workers.py` because it chooses between them: the supervisor starts
`serving` in each worker, so neither may import the other's chooser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workbench.telephony.server.config import ServerConfig, check_config
from workbench.telephony.server.serving import serve_in_this_process
from workbench.telephony.server.workers import run_workers


def run_server(config: ServerConfig, *, ready: Callable[[Any], None] | None = None):
    """Serve until SIGTERM/SIGINT, then drain active calls (blocking; `workbench serve`).

    With `config.workers > 1` this process supervises that many worker processes
    (`workers.run_workers`); `ready` then receives an object with the bound `port`."""
    check_config(config)
    if config.workers > 1:
        run_workers(config, ready=ready)
        return
    serve_in_this_process(config, ready=ready)
