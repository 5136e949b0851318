"""Third-party targets: agents whose protocol side nobody here wrote, started for the tests.

`pipecat_bot`: a small Pipecat bot (tests/targets/pipecat_bot.py) in its own virtualenv. Without
that virtualenv the tests that need it skip and name the set-up command (`scripts/test`, as CI
runs it, creates it).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.pipecat_target import PIPECAT_PYTHON, REPO, SETUP_COMMAND, Bot, running_pipecat_bot

# The scenarios are the Pipecat bot's, not the demo agent's: the tests run them with `workbench
# call`, so the scenario plugin must not collect them as in-process runs of the demo agent.
collect_ignore = ["pipecat-office-hours.yaml", "pipecat-barge-in.yaml"]


@pytest.fixture(scope="session")
def pipecat_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    """The Pipecat bot on a free loopback port: its media URL and its log."""
    if not PIPECAT_PYTHON.is_file():
        pytest.skip(
            f"the Pipecat bot's virtualenv is missing ({PIPECAT_PYTHON.relative_to(REPO)}): "
            f"run `{SETUP_COMMAND}` (scripts/test does)"
        )
    with running_pipecat_bot(tmp_path_factory.mktemp("pipecat-bot")) as bot:
        yield bot
