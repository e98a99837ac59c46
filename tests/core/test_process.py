"""A supervised child: its output read line by line, restarted with backoff, stopped with
SIGTERM and then SIGKILL, not restarted after a final exit code, tied to its parent."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from postflow.core.backoff import Backoff
from postflow.core.process import CannotStart, Command, Exit, SupervisedProcess, tied_to_parent
from postflow.testing.polling import wait_for
from postflow.testing.processes import process_alive


def python(code: str) -> Command:
    return Command([sys.executable, "-c", textwrap.dedent(code)])


class Child:
    """A SupervisedProcess with everything it reported."""

    def __init__(self, command, **options) -> None:
        self.lines: list[str] = []
        self.exits: list[Exit] = []
        self.pids: list[int] = []
        options.setdefault("backoff", Backoff(0.01, 0.05, jitter=0))
        self.process = SupervisedProcess("child", command if callable(command) else lambda: command,
                                         on_line=self.lines.append, on_spawn=self.pids.append,
                                         on_exit=self.exits.append, **options)

    async def __aenter__(self) -> Child:
        self.process.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.process.stop()


@pytest.mark.asyncio
async def test_output_lines_of_stdout_and_stderr_arrive_and_the_last_ones_are_kept():
    command = python("""
        import sys
        print("one", flush=True)
        print("two", file=sys.stderr, flush=True)
        sys.stdout.write("no newline at the end")
    """)
    async with Child(command, final_codes={0}, kept_lines=2) as child:
        await wait_for(lambda: child.exits, message="the child to exit")
    assert sorted(child.lines) == ["no newline at the end", "one", "two"]
    assert len(child.process.output) == 2 and child.process.output[-1] == "no newline at the end"
    assert child.exits == [Exit(0, "exit code 0", None)]


@pytest.mark.asyncio
async def test_an_exit_is_followed_by_a_restart_after_the_backoff():
    async with Child(python("import sys; print('started', flush=True); sys.exit(3)")) as child:
        await wait_for(lambda: len(child.pids) >= 3, message="two restarts")
    first, second = child.exits[:2]
    assert (first.code, first.reason, first.restart_in_s) == (3, "exit code 3", 0.01)
    assert second.restart_in_s == 0.02  # still failing: the wait doubles
    assert child.process.restarts >= 2 and len(set(child.pids)) == len(child.pids)


@pytest.mark.asyncio
async def test_a_final_exit_code_ends_the_supervision():
    async with Child(python("import sys; sys.exit(2)"), final_codes={2}) as child:
        await wait_for(lambda: child.exits, message="the exit")
        await child.process.stop()  # returns at once: nothing left to stop
    assert child.exits == [Exit(2, "exit code 2", None)] and child.process.restarts == 0


@pytest.mark.asyncio
async def test_a_final_first_code_ends_only_a_first_run(tmp_path):
    """A port taken before a service ever listened ends it; one taken while it was restarting
    after a crash is waited out."""
    marker = tmp_path / "ran"
    first_run = python("import sys; sys.exit(3)")
    async with Child(first_run, final_first_codes={3}) as child:
        await wait_for(lambda: child.exits, message="the first exit")
    assert child.exits == [Exit(3, "exit code 3", None)] and child.process.restarts == 0
    once_well = python(f"""
        import pathlib, sys
        marker = pathlib.Path({str(marker)!r})
        sys.exit(3 if marker.exists() else (marker.touch() or 1))""")
    async with Child(once_well, final_first_codes={3}) as child:
        await wait_for(lambda: len(child.exits) >= 3, message="restarts after the first run")
    assert [exit.code for exit in child.exits[:3]] == [1, 3, 3]
    assert all(exit.restart_in_s is not None for exit in child.exits[:3])


@pytest.mark.asyncio
async def test_stop_sends_sigterm_and_reads_what_the_child_says_on_its_way_out():
    command = python("""
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *_: (print("stopping", flush=True), sys.exit(0)))
        print("ready", flush=True)
        time.sleep(60)
    """)
    async with Child(command) as child:
        await wait_for(lambda: "ready" in child.lines, message="ready")
    assert child.lines[-1] == "stopping"
    assert child.exits == [Exit(0, "exit code 0", None)] and child.process.restarts == 0


@pytest.mark.asyncio
async def test_a_child_that_ignores_sigterm_is_killed_after_the_grace():
    command = python("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
    """)
    async with Child(command, stop_grace_s=0.3) as child:
        await wait_for(lambda: "ready" in child.lines, message="ready")
    assert child.exits[-1].code == -9
    assert not process_alive(child.pids[-1])


@pytest.mark.asyncio
async def test_overlong_lines_are_cut_and_a_flood_never_blocks_the_child():
    command = python("""
        import sys
        sys.stdout.write("x" * 300_000 + "\\n")
        for _ in range(20_000):
            sys.stdout.write("y" * 200 + "\\n")
        print("done", flush=True)
    """)
    async with Child(command, final_codes={0}, max_line=1000) as child:
        await wait_for(lambda: child.exits, timeout=20, message="the flood written")
    assert child.lines[0] == "x" * 1000
    assert len(child.lines) == 20_002 and child.lines[-1] == "done"


@pytest.mark.asyncio
async def test_a_command_that_cannot_start_is_retried_with_its_reason():
    calls = []

    def command() -> Command:
        calls.append(1)
        if len(calls) < 3:
            raise CannotStart("cannot start thing: not found")
        return python("print('finally', flush=True)")

    async with Child(command, final_codes={0}) as child:
        await wait_for(lambda: "finally" in child.lines, message="the third try")
    assert [exit.reason for exit in child.exits[:2]] == ["cannot start thing: not found"] * 2
    assert child.exits[0].code is None and child.exits[1].restart_in_s == 0.02


@pytest.mark.asyncio
async def test_a_missing_executable_is_a_failed_run():
    async with Child(Command(["/nonexistent/binary"])) as child:
        await wait_for(lambda: len(child.exits) >= 2, message="two failed starts")
    assert all(exit.code != 0 and exit.restart_in_s is not None for exit in child.exits[:2])


@pytest.mark.asyncio
async def test_a_child_tied_to_its_parent_ends_with_it(tmp_path):
    """The parent (a shell running the child in the background) is killed with -9; the
    kernel then sends the child SIGTERM."""
    pid_file = tmp_path / "child.pid"
    child = " ".join(tied_to_parent(["sleep", "60"]))
    parent = subprocess.Popen(["sh", "-c", f"{child} & echo $! > {pid_file}; wait"])
    try:
        pid = int(await wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(), message="child pid"))
        # setpriv sets the death signal and then becomes `sleep`: kill the parent only after that.
        await wait_for(lambda: Path(f"/proc/{pid}/comm").read_text().strip() == "sleep", message="the child's exec")
        assert process_alive(pid)
        parent.kill()
        parent.wait()
        await wait_for(lambda: not process_alive(pid), message="the child to end with its parent")
    finally:
        parent.kill()
        parent.wait()
