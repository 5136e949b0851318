"""`workbench new agent DIR`: a small working agent to start from.

The files are copied from `assets/templates/agent/` with `{{company}}` replaced: three topics
(opening hours from a knowledge file, a call-back booked from a schedule and written to the CRM,
a hand-off to a person), a lexicon and three scenarios that pass as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import ConfigError, InputFileError
from workbench.paths import ASSETS_DIR

TEMPLATE_DIR = ASSETS_DIR / "templates" / "agent"
_COMPANY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 &'.,-]*$")


def new_agent(directory: Path, company: str) -> list[Path]:
    """Write the template agent into `directory` (new or empty); the files written."""
    if not _COMPANY.match(company) or len(company) > 60:
        raise ConfigError(
            f"company name {company!r}: use letters, digits, spaces and & ' . , - (60 at most)"
        )
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InputFileError(f"{directory}: already exists and is not empty; choose a new folder")
    written = []
    for source in sorted(TEMPLATE_DIR.rglob("*")):
        if not source.is_file():
            continue
        target = directory / source.relative_to(TEMPLATE_DIR)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            source.read_text(encoding="utf-8").replace("{{company}}", company), encoding="utf-8"
        )
        written.append(target)
    return written
