"""Child processes that end with the process that started them."""

from __future__ import annotations

import shutil


def tied_to_parent(argv: list[str]) -> list[str]:
    """`argv` run under util-linux `setpriv --pdeathsig TERM` when it is installed: the kernel
    then sends the child SIGTERM when its parent dies, even by kill -9, so no orphan keeps a
    port, a tunnel or a folder watch nobody supervises."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv
