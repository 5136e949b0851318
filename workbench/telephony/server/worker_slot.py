"""Which of the server's worker processes this is, and where its siblings answer (desks
relayed between workers).

Apart from the supervisor (`workers.py`) because the server and the desk router need this
small value in every worker, while the supervisor's process management runs only in the
process `workbench serve` started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


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
