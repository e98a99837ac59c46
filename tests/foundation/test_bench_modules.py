"""Benchmarks stand on the product and its shared test support (postflow.testing), never on
the test suite: each bench module imports cleanly in a fresh interpreter and loads no module of
`tests`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from postflow.testing.processes import child_env

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = sorted(f"bench.{path.stem}" for path in BENCH.glob("*.py") if path.stem != "__init__")


def test_every_benchmark_is_found():
    assert {"bench.range_server", "bench.filespace", "bench.e2e"} <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_a_benchmark_imports_without_the_test_suite(module):
    probe = (f"import sys, json, {module}; "
             "print(json.dumps(sorted(m for m in sys.modules if m == 'tests' or m.startswith('tests.'))))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=BENCH.parent, env=child_env(),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
