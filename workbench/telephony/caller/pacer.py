"""The caller's clock: one thread that ticks Media Streams clients every 20 ms.

Apart from the client because one pacer drives many clients (a load test, the bench) and the
client itself never sleeps: a gevent harness ticks it from a greenlet instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from workbench.audio.frames import FRAME_MS
from workbench.telephony.caller.client import MediaStreamClient

log = logging.getLogger(__name__)


class Pacer:
    """Ticks clients every 20 ms on absolute deadlines (`t0 + n × 20 ms`), on one thread.

    One pacer can drive many clients (a load test); Locust would replace it with a greenlet
    calling `client.tick()` the same way.
    """

    def __init__(self, clients: Iterable[MediaStreamClient] = ()) -> None:
        self._clients: list[MediaStreamClient] = list(clients)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, client: MediaStreamClient) -> None:
        with self._lock:
            self._clients.append(client)

    def remove(self, client: MediaStreamClient) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)

    def start(self) -> Pacer:
        self._thread = threading.Thread(target=self._run, name="pacer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    def _run(self) -> None:
        start = time.perf_counter()
        n = 0
        while not self._stop.is_set():
            due = start + n * FRAME_MS / 1000.0
            delay = due - time.perf_counter()
            if delay > 0:
                if self._stop.wait(delay):
                    return
            with self._lock:
                clients = [c for c in self._clients if not c.closed.is_set()]
            for client in clients:
                try:
                    client.tick(due)
                except Exception:  # one broken call must not stop the others' clocks
                    log.exception("client %s: tick failed", client.call_sid)
            n += 1
            behind = (time.perf_counter() - due) * 1000.0
            if behind > 10 * FRAME_MS:  # far behind (machine stalled): skip, do not burst
                n += int(behind // FRAME_MS)
