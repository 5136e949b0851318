"""`pytest scenarios/` collects every scenario file here as a test (see the plugin's docstring)."""

from workbench.scenario.pytest_plugin import pytest_collect_file  # noqa: F401
