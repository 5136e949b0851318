"""Where the workbench keeps its files: bundled assets, and a per-user home for caches and state."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ASSETS_DIR = REPO_ROOT / "assets"
SCENARIOS_DIR = REPO_ROOT / "scenarios"
DEMO_AGENT_DIR = ASSETS_DIR / "agents" / "northwind"


def workbench_home() -> Path:
    """Caches (TTS audio, language models), the CRM outbox and the local org's database.

    `WORKBENCH_HOME` overrides the default `~/.cache/voice-agent-workbench` (tests point it at a
    temporary directory).
    """
    home = Path(
        os.environ.get("WORKBENCH_HOME") or Path.home() / ".cache" / "voice-agent-workbench"
    )
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir(name: str) -> Path:
    path = workbench_home() / "cache" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
