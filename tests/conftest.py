"""Options and hooks for the whole suite: `--soak` runs the long fault campaign
(`make soak`); without it the campaign runs its short version inside `make test`. With
pytest-xdist (`make test` runs two workers) each worker hands its campaign tally to the
controller, which prints the sum."""

from __future__ import annotations

import pytest

from postflow.testing.campaign import TALLY_KEY, Tally

WORKER_TALLY = "campaign_tally"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", default=False,
                     help="run the long fault campaign (20 uploads and 10 kills per scenario, longer fault runs)")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    tally = config.stash.get(TALLY_KEY, None)
    if tally is not None:
        terminalreporter.write_sep("=", "fault campaign")
        terminalreporter.write_line(tally.summary())


def pytest_sessionfinish(session: pytest.Session) -> None:
    tally = session.config.stash.get(TALLY_KEY, None)
    worker_output = getattr(session.config, "workeroutput", None)  # set on an xdist worker
    if tally is not None and worker_output is not None:
        worker_output[WORKER_TALLY] = tally.as_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:  # noqa: ANN001 (xdist's WorkerController)
    counts = getattr(node, "workeroutput", {}).get(WORKER_TALLY)
    if counts is not None:
        config = node.config
        if TALLY_KEY not in config.stash:
            config.stash[TALLY_KEY] = Tally(bool(config.getoption("--soak")))
        config.stash[TALLY_KEY].add(counts)
