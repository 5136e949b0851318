"""`workbench serve --workers N`: N server processes sharing one port (SO_REUSEPORT).

Why processes: every call's per-frame speech work (VAD, resampling, feeding the streaming
recogniser) runs in Python or in C that holds the GIL, so one process serves its calls on one
core at a time; when many callers talk at once it falls behind (late ticks, a stalled event
loop, seconds of turn latency) while the other cores idle. Worker processes each bind the
port with SO_REUSEPORT and the kernel spreads new connections over them; a call stays in the
process that accepted it.

The supervisor (this module, in the process `workbench serve` started):

- picks the port (a port of 0 is resolved once, so every worker binds the same one) and a
  private directory (mode 0700) for the workers' Unix sockets;
- starts the workers (spawned, so none inherits a half-initialised speech stack), each of which
  loads the agent and speech stack, binds, and reports ready; `ready` is called once all are;
- on SIGTERM/SIGINT, passes SIGTERM to every worker, each of which drains its own calls
  (`MediaStreamServer.drain`) and exits; workers still running after the drain timeout (plus a
  margin) are killed;
- if a worker dies on its own, stops the others and exits with an error, so whatever restarts
  the server sees it (one worker's calls cannot be moved to another).

The workers write their metrics to one prometheus_client multiprocess directory of the run
(`PROMETHEUS_MULTIPROC_DIR`, in their environment from the start), so `GET /metrics` on any
worker renders all of them merged (`metrics.py`).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, WorkbenchError
from workbench.telephony.metrics import MULTIPROC_DIR_ENV
from workbench.telephony.server.config import ServerConfig
from workbench.telephony.server.worker_slot import WorkerSlot

log = logging.getLogger(__name__)

START_TIMEOUT_S = 180.0  # loading the agent and speech stack, per worker (they load at once)
STOP_MARGIN_S = 20.0  # beyond the drain timeout before a worker is killed


def default_workers() -> int:
    """`--workers auto`: one per core."""
    return max(1, os.cpu_count() or 1)


def parse_workers(value: str | int) -> int:
    """`--workers`: a positive number or `auto`."""
    text = str(value).strip().lower()
    if text == "auto":
        return default_workers()
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ConfigError(f"--workers {value}: give a number of processes (1 or more) or 'auto'")
    return count


@dataclass(frozen=True)
class ServingInfo:
    """What `ready` receives from a multi-worker server."""

    port: int
    workers: int
    ear: str  # the ear the workers' calls listen with, as the workers report it


def reserve_port(host: str, port: int) -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket on the port the workers will share: a port
    of 0 becomes a concrete one, and a port already taken fails here, before any worker loads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise WorkbenchError(f"cannot bind {host}:{port}: {error.strerror or error}") from error
    return sock


def run_workers(config: ServerConfig, *, ready: Callable[[Any], None] | None = None) -> None:
    """Serve with `config.workers` processes until SIGTERM/SIGINT (blocking)."""
    count = config.workers
    reserved = reserve_port(config.host, config.port)
    port = reserved.getsockname()[1]
    config = replace(config, port=port)
    directory = tempfile.mkdtemp(prefix="workbench-serve-")  # mode 0700
    metrics_directory = Path(directory) / "metrics"
    metrics_directory.mkdir()
    context = multiprocessing.get_context("spawn")
    started = context.Queue()
    level = logging.getLogger("workbench").getEffectiveLevel()
    processes = [
        context.Process(
            target=_worker_main,
            args=(config, WorkerSlot(i, count, directory), started, level),
            name=f"workbench-serve-worker-{i}",
        )
        for i in range(count)
    ]
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with _environment(MULTIPROC_DIR_ENV, str(metrics_directory)):  # what spawned workers get
            for process in processes:
                process.start()
        ears = _wait_started(processes, started, count, lambda: stopping)
        reserved.close()
        if not stopping and ready is not None:
            ready(ServingInfo(port=port, workers=count, ear=ears[0]))  # (one config: one ear)
        failed = None
        while not stopping and failed is None:
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.5)
            failed = next((p for p in processes if p.exitcode is not None), None)
        if failed is not None and not stopping:
            log.error("%s exited (code %s): stopping the server", failed.name, failed.exitcode)
        _stop_all(processes, config.drain_timeout_s + STOP_MARGIN_S)
        if failed is not None and not stopping:
            raise WorkbenchError(
                f"worker {failed.name} exited with code {failed.exitcode}; the server stopped"
            )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        reserved.close()
        for process in processes:
            if process.is_alive():
                process.kill()
                process.join(5.0)
        started.close()
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """`name=value` in this process's environment for the block (spawned children keep it)."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _wait_started(
    processes: list[Any], started: Any, count: int, stopping: Callable[[], bool]
) -> list[str]:
    """The ears of the workers that started (each sends `(index, ear)` once serving)."""
    import queue

    deadline = time.monotonic() + START_TIMEOUT_S
    ears: list[str] = []
    while len(ears) < count and not stopping():
        try:
            _, ear = started.get(timeout=0.5)
            ears.append(ear)
            continue
        except queue.Empty:
            pass
        dead = next((p for p in processes if p.exitcode is not None), None)
        if dead is not None:
            raise WorkbenchError(
                f"worker {dead.name} exited with code {dead.exitcode} while starting "
                "(its error is above)"
            )
        if time.monotonic() > deadline:
            raise WorkbenchError(f"the workers did not start within {START_TIMEOUT_S:g} s")
    return ears


def _stop_all(processes: list[Any], timeout_s: float) -> None:
    """SIGTERM every worker (each drains its calls), wait, then kill what is left."""
    for process in processes:
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("%s did not finish draining in time: killing it", process.name)
            process.kill()
            process.join(5.0)


def _worker_main(config: ServerConfig, slot: WorkerSlot, started: Any, level: int) -> None:
    """A worker process: serve until SIGTERM, then drain (spawned by `run_workers`)."""
    from workbench.telephony.server.process import die_with_parent
    from workbench.telephony.server.serving import serve_in_this_process

    die_with_parent()
    # Ctrl-C reaches the whole process group: while loading, ignore it (the supervisor's
    # SIGTERM follows); once serving, SIGINT and SIGTERM both start the drain.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("workbench").setLevel(level)
    serve_in_this_process(
        config, ready=lambda server: started.put((slot.index, server.ear)), worker=slot
    )
