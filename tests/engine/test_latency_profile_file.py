"""A latency profile file's problems point at the line to fix, like every YAML file."""

from __future__ import annotations

import pytest

from workbench.engine.latency import load_profile
from workbench.errors import InputFileError


def test_an_unknown_stage_field_is_named_at_its_line(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nstages:\n  respond: {distribution: lognormal, median_ms: 900, p95_ms: 1800}\n"
        "  synthesize:\n    distributon: normal\n"
    )
    with pytest.raises(InputFileError) as raised:
        load_profile(str(path))
    assert f"{path}:5:5: stages.synthesize.distributon: unknown field" in str(raised.value)


def test_broken_yaml_is_named_at_its_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nstages:\n  respond: {median_ms: 900\n")
    with pytest.raises(InputFileError, match=r"broken\.yaml:\d+:\d+: invalid YAML"):
        load_profile(str(path))


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(InputFileError, match="no such latency profile file"):
        load_profile(str(tmp_path / "absent.yaml"))
