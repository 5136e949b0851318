"""Writes `requirements.lock`: the exact versions of everything the workbench and its extras
need, as installed in the environment that passed the tests.

    .venv/bin/python scripts/lock.py          # rewrite requirements.lock from .venv
    .venv/bin/python scripts/lock.py --check  # exit 1 if the lock misses a requirement

`scripts/setup` installs with the lock as pip constraints (`pip install -c requirements.lock
-e ".[gui,load,dev]"`), so a fresh machine gets the versions CI passed with (unpinned, a
PySide6 release with a leak once reached every new install). Only the dependency closure of
`voice-agent-workbench[gui,load,dev]` is written — not whatever else happens to be installed
— found from the installed packages' own metadata.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "voice-agent-workbench"
EXTRAS = ("gui", "load", "dev")
LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def _wanted(requirement: Requirement, extras: tuple[str, ...]) -> bool:
    if requirement.marker is None:
        return True
    environment = default_environment()
    return any(
        requirement.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
    )


def closure(project: str = PROJECT, extras: tuple[str, ...] = EXTRAS) -> dict[str, str]:
    """Canonical name → installed version of every package `project[extras]` needs."""
    found: dict[str, str] = {}
    pending = [(project, extras)]
    while pending:
        name, wanted_extras = pending.pop()
        distribution = metadata.distribution(name)
        for text in distribution.requires or []:
            requirement = Requirement(text)
            if not _wanted(requirement, wanted_extras):
                continue
            key = canonicalize_name(requirement.name)
            if key in found:
                continue
            try:
                found[key] = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                raise SystemExit(
                    f"lock: {requirement.name} (needed by {name}) is not installed: "
                    "run ./scripts/setup first"
                ) from None
            pending.append((requirement.name, tuple(requirement.extras)))
    found.pop(canonicalize_name(project), None)
    return dict(sorted(found.items()))


def render(pins: dict[str, str]) -> str:
    header = (
        "# The versions the test suite passed with: pip constraints for scripts/setup.\n"
        "# Regenerate with `.venv/bin/python scripts/lock.py` after changing dependencies.\n"
    )
    return header + "".join(f"{name}=={version}\n" for name, version in pins.items())


def read_lock(path: Path = LOCK) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def main(argv: list[str]) -> int:
    pins = closure()
    if "--check" in argv:
        missing = sorted(set(pins) - set(read_lock()))
        if missing:
            print(f"lock: requirements.lock misses {', '.join(missing)}: run scripts/lock.py")
            return 1
        return 0
    LOCK.write_text(render(pins))
    print(f"lock: {len(pins)} packages pinned in {LOCK.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
