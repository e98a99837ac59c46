"""The campaign's fixtures: whether this is the soak run, the session's tally (kept in the
pytest stash, where tests/conftest.py prints it at the end of the run), and the PYTHONPATH
that puts the shim (shim/sitecustomize.py) into the stack's processes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postflow.testing.campaign import TALLY_KEY, Tally


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> bool:
    return bool(pytestconfig.getoption("--soak"))


@pytest.fixture(scope="session")
def tally(pytestconfig: pytest.Config, soak: bool) -> Tally:
    if TALLY_KEY not in pytestconfig.stash:
        pytestconfig.stash[TALLY_KEY] = Tally(soak)
    return pytestconfig.stash[TALLY_KEY]


@pytest.fixture(scope="session")
def shim_pythonpath() -> str:
    shim = Path(__file__).with_name("shim")
    return os.pathsep.join(filter(None, [str(shim), os.environ.get("PYTHONPATH")]))
