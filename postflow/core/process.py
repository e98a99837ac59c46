"""Child processes: tied to the process that started them, and kept running under supervision."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass

from postflow.core.backoff import Backoff

log = logging.getLogger(__name__)

DRAIN_AFTER_EXIT_S = 1.0


def tied_to_parent(argv: list[str]) -> list[str]:
    """`argv` run under util-linux `setpriv --pdeathsig TERM` when it is installed: the kernel
    then sends the child SIGTERM when its parent dies, even by kill -9, so no orphan keeps a
    port, a tunnel or a folder watch nobody supervises."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str] | None = None  # None: this process's environment


class CannotStart(Exception):
    """Raised by a command factory when there is nothing to run now (the message says why);
    counts as a run that failed at once."""


@dataclass(frozen=True)
class Exit:
    code: int | None  # None when the process could not be started
    reason: str  # "exit code 3", "cannot start cloudflared: …"
    restart_in_s: float | None  # None: not restarted (stopping, or a final exit code)


class SupervisedProcess:
    """A child kept running: spawned under `tied_to_parent` with stdout and stderr read line by
    line (a pipe nobody reads would freeze it), restarted after `backoff.failed()` when it
    exits, stopped with SIGTERM, then SIGKILL after `stop_grace_s`.

    `command()` is asked before every spawn, so each run may get fresh arguments. Lines longer
    than `max_line` bytes are cut; the last `kept_lines` lines of the current run are in
    `output`. An exit code in `final_codes` ends the supervision (restarting cannot help); one
    in `final_first_codes` does so only on the first run (a child that once ran well is given
    its restarts: what stopped it then, a port taken meanwhile, may pass).
    `new_session`: the child gets a session of its own, so a Ctrl-C in our terminal reaches
    only us and we decide how the child stops."""

    def __init__(self, name: str, command: Callable[[], Command], *, on_line: Callable[[str], None],
                 backoff: Backoff, on_spawn: Callable[[int], None] | None = None,
                 on_exit: Callable[[Exit], None] | None = None, final_codes: Collection[int] = (),
                 final_first_codes: Collection[int] = (),
                 stop_grace_s: float = 10.0, new_session: bool = False, max_line: int = 65536,
                 kept_lines: int = 20) -> None:
        self.name = name
        self.backoff = backoff
        self.process: asyncio.subprocess.Process | None = None  # the current (or last) run
        self.restarts = 0
        self.output: collections.deque[str] = collections.deque(maxlen=kept_lines)
        self._command = command
        self._on_line = on_line
        self._on_spawn = on_spawn
        self._on_exit = on_exit
        self._final_codes = final_codes
        self._final_first_codes = final_first_codes
        self._stop_grace_s = stop_grace_s
        self._new_session = new_session
        self._max_line = max_line
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_running(), name=f"supervise-{self.name}")

    async def stop(self) -> None:
        """Stops the child (and any restart) and returns once its last output was read."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _keep_running(self) -> None:
        while True:
            code, reason = await self._run_once()
            final = (self._stopping.is_set() or code in self._final_codes
                     or (self.restarts == 0 and code in self._final_first_codes))
            delay = None if final else self.backoff.failed()
            if delay is not None:
                self.restarts += 1
                last = self.output[-1] if self.output else "no output"
                log.warning("%s exited (%s); restarting in %.1fs; last output: %s", self.name, reason, delay, last)
            if self._on_exit is not None:
                self._on_exit(Exit(code, reason, delay))
            if delay is None:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
                return

    async def _run_once(self) -> tuple[int | None, str]:
        try:
            command = self._command()
            self.process = process = await asyncio.create_subprocess_exec(
                *tied_to_parent(command.argv), env=command.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=self._new_session,
            )
        except CannotStart as exc:
            return None, str(exc)
        except OSError as exc:
            return None, f"cannot start {self.name}: {exc.strerror or exc}"
        self.backoff.started()
        self.output.clear()
        if self._on_spawn is not None:
            self._on_spawn(process.pid)
        assert process.stdout is not None
        reading = asyncio.create_task(self._read(process.stdout))
        try:
            await self._wait_or_stop(process)
        finally:
            if process.returncode is None:  # cancelled: leave no orphan behind
                process.kill()
            # The rest of the output is still read (the last lines say why it died), but a pipe
            # some grandchild keeps open must not hold up the restart.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(reading), DRAIN_AFTER_EXIT_S)
            reading.cancel()
        return process.returncode, f"exit code {process.returncode}"

    async def _wait_or_stop(self, process: asyncio.subprocess.Process) -> None:
        exited = asyncio.ensure_future(process.wait())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({exited, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not exited.done():
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(exited), self._stop_grace_s)
            except TimeoutError:
                log.warning("%s did not stop within %.0fs of SIGTERM; killing it", self.name, self._stop_grace_s)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await exited

    async def _read(self, stream: asyncio.StreamReader) -> None:
        pending = b""
        while chunk := await stream.read(65536):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()[: self._max_line]
            for raw in lines:
                self._line(raw[: self._max_line])
        if pending:
            self._line(pending)

    def _line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        if line:
            self.output.append(line)
        self._on_line(line)
