"""What `postflow doctor` prints: one line per check, `✓` passed, `!` passed with a warning,
`✗` failed (with what to do after the arrow), `-` not run because an earlier check failed."""

from __future__ import annotations

import sys
from typing import TextIO

PASSED, WARNING, FAILED, SKIPPED = "✓", "!", "✗", "-"
NAME_WIDTH = 15


class Report:
    """The lines printed so far are only counted: whether any check failed decides the exit code."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.failures = 0

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def ok(self, check: str, detail: str) -> None:
        self._line(PASSED, check, detail)

    def warn(self, check: str, detail: str, advice: str = "") -> None:
        self._line(WARNING, check, f"{detail} → {advice}" if advice else detail)

    def fail(self, check: str, detail: str, fix: str) -> None:
        self.failures += 1
        self._line(FAILED, check, f"{detail} → {fix}")

    def skip(self, check: str, why: str) -> None:
        self._line(SKIPPED, check, f"skipped: {why}")

    def heading(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _line(self, mark: str, check: str, detail: str) -> None:
        print(f"{mark} {check:<{NAME_WIDTH}} {detail}", file=self.out, flush=True)
