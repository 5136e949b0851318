"""Running a server in this process: until a signal (`workbench serve`, each worker) or on a
thread of its own (`ServerThread`: tests, benches, the GUI).

Apart from the server because it owns a process's or a thread's lifetime (the loop, signals,
the CRM sink it opens and closes), not a call's; apart from `run.py` so that the workers'
supervisor can start it in each worker without importing itself.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from workbench.telephony.server.config import ServerConfig
from workbench.telephony.server.media_server import MediaStreamServer
from workbench.telephony.server.worker_slot import WorkerSlot

log = logging.getLogger(__name__)


def open_crm_sink() -> Any:
    from workbench.crm.sink import CrmSink

    return CrmSink.from_settings()


def serve_in_this_process(
    config: ServerConfig,
    *,
    ready: Callable[[Any], None] | None = None,
    worker: WorkerSlot | None = None,
) -> None:
    crm = open_crm_sink() if config.crm else None
    try:
        server = MediaStreamServer(config, crm_sink=crm, worker=worker)
        asyncio.run(_serve(server, ready))
    finally:
        if crm is not None:
            crm.close()


async def _serve(server: MediaStreamServer, ready: Callable | None) -> None:
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready(server)
    await stop.wait()
    log.warning("shutting down: draining %d calls", len(server.connections))
    await server.drain()


class ServerThread:
    """A server on its own loop thread (tests, the bench, the GUI): `start()` → port."""

    def __init__(self, server_factory: Callable[[], MediaStreamServer]) -> None:
        self._factory = server_factory
        self.server: MediaStreamServer | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 60.0) -> int:
        self._thread = threading.Thread(target=self._run, name="media-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("the media-stream server did not start")
        if self._error is not None:
            raise self._error
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.server = self._factory()
            self.loop.run_until_complete(self.server.start())
        except BaseException as error:
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.close()

    def call_soon(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` on the server loop and return its result (thread-safe)."""
        assert self.loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10.0)

    def stop(self, drain_timeout_s: float = 5.0) -> None:
        if self.loop is None or self.server is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.server.drain(drain_timeout_s), self.loop)
        try:
            future.result(drain_timeout_s + 15.0)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(10.0)
