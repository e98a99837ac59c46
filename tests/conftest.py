"""Options and hooks for the whole suite: `--soak` runs the long fault campaign
(`make soak`); without it the campaign runs its short version inside `make test`."""

from __future__ import annotations

import pytest

from postflow.testing.campaign import TALLY_KEY


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False,
                     help="run the long fault campaign (20 uploads and 10 kills per scenario, longer fault runs)")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY_KEY, None)
    if tally is not None:
        terminalreporter.write_sep("=", "fault campaign")
        terminalreporter.write_line(tally.summary())
