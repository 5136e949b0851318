"""The lock file: a fresh machine installs the versions the tests passed with."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def _lock_module():
    spec = importlib.util.spec_from_file_location("lock", ROOT / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_package_the_workbench_needs_is_pinned():
    lock = _lock_module()
    needed = lock.closure()
    pinned = lock.read_lock()
    assert set(needed) <= set(pinned), f"not pinned: {sorted(set(needed) - set(pinned))}"


def test_every_pin_satisfies_what_pyproject_asks_for():
    lock = _lock_module()
    pinned = lock.read_lock()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    asked = list(project["dependencies"])
    for extra in lock.EXTRAS:
        asked += project["optional-dependencies"][extra]
    for text in asked:
        requirement = Requirement(text)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        version = pinned.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is not in requirements.lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock pins {requirement.name}=={version}, pyproject asks {text}"
        )


def test_setup_installs_with_the_lock_as_constraints():
    setup = (ROOT / "scripts" / "setup").read_text()
    assert '-c requirements.lock -e ".[gui,load,dev]"' in setup
    assert "requirements.lock" in setup.split("want=", 1)[1].splitlines()[0]
