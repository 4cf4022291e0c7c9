"""`shell`: run a command, its output streamed into the step's log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

from lockgate.config import mask_url
from lockgate.core.errors import StepTimeout, TaskError, UsageError
from lockgate.dag.task import task
from lockgate.tasks._process import Tail, stop_group

log = logging.getLogger(__name__)


class CommandFailed(TaskError):
    """A command exited with a nonzero code: hard, unless its code was listed as retryable."""

    error_name = "lockgate.CommandFailed"
    retryable = False

    def __init__(self, message: str, *, exit_code: int, retryable: bool = False) -> None:
        super().__init__(message, retryable=retryable)
        self.exit_code = exit_code


def _shown(command: str | Sequence[str]) -> str:
    text = command if isinstance(command, str) else " ".join(str(part) for part in command)
    return mask_url(text if len(text) <= 200 else text[:197] + "...")


@task
def shell(
    command: str | list[str],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    retry_on_exit_codes: Sequence[int] = (),
) -> dict[str, Any]:
    """Run `command` (a string through /bin/sh, a list executed directly); returns {"exit_code", "stdout_tail"}.

    stdout and stderr go to the step's log as they come. `env` adds to the inherited
    environment. A nonzero exit raises CommandFailed (hard; soft for `retry_on_exit_codes`);
    passing `timeout` seconds stops the command and its children and raises StepTimeout.
    """
    if isinstance(command, str):
        if not command.strip():
            raise UsageError("shell: command is empty")
    elif not isinstance(command, list) or not command or not all(isinstance(p, str) for p in command):
        raise UsageError(f"shell: command must be a string or a non-empty list of strings, not {command!r}")
    if env is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise UsageError("shell: env must map strings to strings")
    if cwd is not None and not os.path.isdir(cwd):
        raise UsageError(f"shell: cwd {cwd!r} is not a folder")
    if timeout is not None and timeout <= 0:
        raise UsageError(f"shell: timeout must be above 0, not {timeout!r}")
    shown = _shown(command)
    log.info("running %s", shown)
    try:
        proc = subprocess.Popen(
            command,
            shell=isinstance(command, str),
            cwd=cwd,
            env={**os.environ, **env} if env else None,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # so a timeout stops the command's children too
        )
    except OSError as exc:
        raise CommandFailed(f"shell: cannot start {shown}: {exc.strerror or exc}", exit_code=127) from None
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        stop_group(proc)

    timer = threading.Timer(timeout, expire) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    tail = Tail()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.add(line)
        code = proc.wait()
    except BaseException:
        stop_group(proc)
        raise
    finally:
        if timer is not None:
            timer.cancel()
    if timed_out.is_set():
        raise StepTimeout(f"shell: {shown} ran past its timeout of {timeout} s; last lines:\n{tail.text(10)}")
    if code != 0:
        soft = code in set(retry_on_exit_codes)
        raise CommandFailed(
            f"shell: {shown} exited with code {code}; last lines:\n{tail.text(20)}", exit_code=code, retryable=soft
        )
    return {"exit_code": code, "stdout_tail": tail.text(20)}
