"""The campaign's fixtures: whether this is the soak run, and the session's tally (kept in
the pytest stash, where tests/conftest.py prints it at the end of the run)."""

from __future__ import annotations

import pytest

from tests.campaign.tally import TALLY_KEY, Tally


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--soak"))


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config, soak: bool) -> Tally:
    if TALLY_KEY not in pytestconfig.stash:
        pytestconfig.stash[TALLY_KEY] = Tally(soak)
    return pytestconfig.stash[TALLY_KEY]
