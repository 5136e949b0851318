"""Shared fixtures of the load tests."""

from __future__ import annotations

import pytest
from support.trivial_target import running_trivial_target


@pytest.fixture(scope="module")
def trivial_target():
    """The bench's trivial agent (loadtests/trivial_target.py) on a free loopback port: its URL."""
    with running_trivial_target() as url:
        yield url
