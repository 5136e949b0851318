"""Run a script in a child Python (e.g. one that imports gevent, kept out of the test process)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from workbench.paths import REPO_ROOT


def run_script(script: str, timeout_s: float = 60.0) -> Any:
    """Run `script` from the repository root; its last line of output, parsed as JSON."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
