"""Which of the server's worker processes this is, and how to reach its siblings.

Apart from the supervisor (`workers.py`) because the server and the desk router need this
small value in every worker, while the supervisor's process management runs only in the
process `workbench serve` started.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SIBLING_TIMEOUT_S = 2.0  # a sibling's metrics answer


@dataclass(frozen=True)
class WorkerSlot:
    """Which of the server's worker processes this is, and where its siblings answer."""

    index: int
    count: int
    directory: str

    def socket_path(self, index: int | None = None) -> str:
        return str(Path(self.directory) / f"worker-{self.index if index is None else index}.sock")

    def ready_count(self) -> int:
        """Workers listening so far (each creates its socket once it serves)."""
        return sum(1 for i in range(self.count) if Path(self.socket_path(i)).exists())

    async def sibling_snapshots(self) -> list[dict[str, Any]]:
        """The other workers' metrics snapshots (those that answer in time)."""
        others = [i for i in range(self.count) if i != self.index]
        answers = await asyncio.gather(*(self._snapshot(i) for i in others))
        return [answer for answer in answers if answer is not None]

    async def _snapshot(self, index: int) -> dict[str, Any] | None:
        import aiohttp

        path = self.socket_path(index)
        try:
            timeout = aiohttp.ClientTimeout(total=SIBLING_TIMEOUT_S)
            connector = aiohttp.UnixConnector(path=path)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                async with session.get("http://worker/worker/metrics") as response:
                    response.raise_for_status()
                    return await response.json()
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as error:  # (not up yet)
            log.warning("worker %d: no metrics from worker %d: %s", self.index, index, error)
            return None
