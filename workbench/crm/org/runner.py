"""Running the local org: `LocalOrg` (background thread) and `run_org_server` (foreground)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
from aiohttp import web

from workbench.crm.org.client import local_http_session, local_salesforce
from workbench.crm.org.faults import parse_fault_spec
from workbench.crm.org.records import Records
from workbench.crm.org.seed import seed_demo_data
from workbench.crm.org.server import build_app
from workbench.crm.org.state import OrgState
from workbench.crm.org.store import Store
from workbench.errors import ConfigError

if TYPE_CHECKING:
    from simple_salesforce import Salesforce

log = logging.getLogger(__name__)


class LocalOrg:
    """A local Salesforce-compatible org served on its own thread and asyncio loop.

    `db_path=None` means a fresh temporary database, deleted on `stop()`; give a path to keep
    the org across restarts. Demo data is seeded only into an empty database.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        faults: str | None = None,
        db_path: Path | None = None,
        seed_demo_data: bool = True,
    ) -> None:
        parse_fault_spec(faults)  # fail fast on a bad spec
        self._faults_text = faults
        self.host = host
        self._requested_port = port
        self.token = token or secrets.token_urlsafe(24)
        self._temp_dir: Path | None = None
        if db_path is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="local-org-"))
            db_path = self._temp_dir / "org.sqlite"
        self.db_path = Path(db_path)
        self._seed = seed_demo_data
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._state: OrgState | None = None
        self._runner: web.AppRunner | None = None
        self._stopped = threading.Event()

    # -------------------------------------------------------------- properties

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the local org is not started")
        return self._port

    @property
    def instance_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def faults(self) -> str:
        """The current fault spec, normalised ("" when none)."""
        if not self._running():
            return str(parse_fault_spec(self._faults_text))
        return self._call(lambda state: str(state.spec))

    def _running(self) -> bool:
        return self._thread is not None and self._state is not None

    # -------------------------------------------------------------- lifecycle

    def start(self) -> LocalOrg:
        """Serve on a background thread; returns once the port is listening."""
        if self._thread is not None:
            return self
        ready: Future[int] = Future()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="local-org", daemon=True
        )
        self._thread.start()
        try:
            self._port = ready.result(timeout=30)  # re-raises a startup error
        except BaseException:
            self._thread.join(timeout=5)
            self._thread = None
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
            raise
        log.info("local org listening on %s (db %s)", self.instance_url, self.db_path)
        return self

    def stop(self) -> None:
        """Stop serving and close the database (idempotent)."""
        if self._thread is None or self._loop is None:
            return
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=30)
            self._thread.join(timeout=30)
        self._thread = None
        self._stopped.set()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)

    def serve_forever(self) -> None:
        """Start if needed and block until `stop()` is called or Ctrl-C."""
        if self._stopped.is_set():  # stopped already (e.g. from an on_ready callback)
            return
        self.start()
        try:
            while not self._stopped.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> LocalOrg:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- clients and admin

    def salesforce(self, *, version: str = "59.0", session: Any = None) -> Salesforce:
        """A `simple_salesforce.Salesforce` pointed at this org (direct session)."""
        return local_salesforce(self.instance_url, self.token, version=version, session=session)

    def http_session(self) -> requests.Session:
        """A `requests.Session` whose https:// traffic for this org goes to it over http."""
        return local_http_session(self.instance_url)

    def set_faults(self, spec: str | None) -> None:
        """Replace the fault spec while running; raises ConfigError for a bad spec."""
        parse_fault_spec(spec)
        self._faults_text = spec  # also what a later start() uses
        if self._running():
            self._call(lambda state: state.set_faults(spec))

    def published_events(self, after: int = 0) -> list[dict]:
        """Platform events with replayId > after, oldest first."""
        return self._call(lambda state: state.records.store.events_after(after))

    def request_counts(self) -> dict[str, int]:
        """Requests served so far by "route status" (e.g. "upsert 201")."""
        return self._call(lambda state: dict(state.counts))

    # -------------------------------------------------------------- internals

    def _call(self, fn: Callable[[OrgState], Any]) -> Any:
        """Run `fn(state)` on the server thread (the only thread touching SQLite)."""
        if self._loop is None or self._state is None or self._thread is None:
            raise RuntimeError("the local org is not started")
        state = self._state

        async def run() -> Any:
            return fn(state)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=30)

    def _serve(self, ready: Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            port = loop.run_until_complete(self._startup())
        except BaseException as error:  # report any startup failure to start()
            ready.set_exception(error)
            loop.close()
            return
        ready.set_result(port)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _startup(self) -> int:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        store = Store(self.db_path)
        records = Records(store)
        if self._seed and store.count() == 0:
            with store.transaction():
                seed_demo_data(records)
        state = OrgState(records=records, token=self.token)
        state.set_faults(self._faults_text)
        self._state = state
        self._runner = web.AppRunner(
            build_app(state), access_log=None, handle_signals=False, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._requested_port)
        try:
            await site.start()
        except OSError as error:
            await self._runner.cleanup()
            store.close()
            raise ConfigError(
                f"local org: cannot listen on {self.host}:{self._requested_port} ({error.strerror})"
            ) from None
        server = site._server  # the only way to read the port bound for port=0
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        state.instance_url = f"http://{self.host}:{port}"
        return port

    async def _shutdown(self) -> None:
        if self._state is not None:
            self._state.notify_event()  # wake long-polling /__admin/events requests
        if self._runner is not None:
            await self._runner.cleanup()
        if self._state is not None:
            self._state.records.store.close()
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)


def run_org_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    faults: str | None = None,
    db_path: Path | None = None,
    seed_demo_data: bool = True,
    on_ready: Callable[[LocalOrg], None] | None = None,
) -> None:
    """Serve a local org in the foreground until Ctrl-C; `on_ready(org)` runs once listening."""
    org = LocalOrg(
        host=host,
        port=port,
        token=token,
        faults=faults,
        db_path=db_path,
        seed_demo_data=seed_demo_data,
    )
    previous = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM stops as cleanly as Ctrl-C (closing the database).
        previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        org.start()
        if on_ready is not None:
            on_ready(org)
        org.serve_forever()
    except KeyboardInterrupt:
        log.info("local org interrupted; stopping")
    finally:
        org.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
