"""Child processes for the shell and Spark tasks: finding commands, keeping output tails, stopping."""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from lockgate.core.errors import UsageError


def find_command(name: str) -> str:
    """A command's path: next to the running interpreter first, then on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise UsageError(f"{name} is not installed: not next to {sys.executable} nor on PATH")
    return found


class Tail:
    """The last `lines` lines of a stream, for error messages and results."""

    def __init__(self, lines: int = 40) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=lines)

    def add(self, line: str) -> None:
        self._lines.append(line.rstrip("\r\n"))

    def text(self, lines: int | None = None) -> str:
        kept = list(self._lines)
        return "\n".join(kept if lines is None else kept[-lines:])


def stop_group(proc: subprocess.Popen[str] | int, grace: float = 5.0) -> None:
    """End a process started in its own session, and its children: TERM, then KILL after `grace` s."""
    pid = proc if isinstance(proc, int) else proc.pid
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if isinstance(proc, int):
        return
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        proc.wait()
