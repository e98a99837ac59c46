"""What the fault campaign did, summed over the session and printed at its end: faults
injected by kind, files uploaded, and how many were lost or duplicated."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest


@dataclass
class Tally:
    soak: bool
    faults: Counter = field(default_factory=Counter)
    files: int = 0
    lost: int = 0
    duplicated: int = 0
    scenarios: int = 0

    def fault(self, kind: str, count: int = 1) -> None:
        self.faults[kind] += count

    def delivery(self, files: int, lost: int, duplicated: int) -> None:
        self.scenarios += 1
        self.files += files
        self.lost += lost
        self.duplicated += duplicated

    def summary(self) -> str:
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items()))
        return (f"PostFlow fault campaign ({'soak' if self.soak else 'short'}): "
                f"faults injected {sum(self.faults.values())} ({kinds or 'none'}); "
                f"files {self.files}, lost {self.lost}, duplicated {self.duplicated} "
                f"in {self.scenarios} scenarios")


TALLY_KEY = pytest.StashKey[Tally]()
