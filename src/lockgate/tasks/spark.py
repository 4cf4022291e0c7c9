"""Spark applications through spark-submit: run to the end, or start and poll from a state machine.

Each submission has a folder under $LOCKGATE_HOME/spark/<submission_id>/ holding the command,
the driver log and, once it has ended, its status. A detached launcher process writes the
status, so `spark_status` works from any process, before or after a restart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lockgate.config import mask_url
from lockgate.core.errors import StepTimeout, TaskError, UsageError
from lockgate.dag.task import task
from lockgate.tasks._process import Tail, find_command, stop_group

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
STARTUP_SECONDS = 30.0  # how long a launcher may take to write its pid file
_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{12}$")
_APP_ID = re.compile(
    r"lockgate: application_id=(\S+)|\b(application_\d+_\d+)\b|app ID (app-\d+-\d+)|\b(spark-application-\d+)\b"
)
_LOG_LINE = re.compile(r"^\d{2}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} [A-Z]+ ")


class SparkApplicationFailed(TaskError):
    """A Spark application ended with a nonzero exit code: a hard failure."""

    error_name = "lockgate.SparkApplicationFailed"
    retryable = False

    def __init__(self, message: str, *, exit_code: int, application_id: str | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.application_id = application_id


@dataclass(frozen=True, slots=True)
class Submission:
    """Where one submission keeps its command, driver log and status."""

    submission_id: str
    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / "driver.log"

    @property
    def status_file(self) -> Path:
        return self.folder / "status.json"

    def ended(self) -> dict[str, Any] | None:
        """The launcher's status record once the application has ended, else None."""
        try:
            return json.loads(self.status_file.read_text())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return None

    def launcher_alive(self) -> bool:
        """Whether the launcher still runs (or is still starting: it writes launcher.pid first thing)."""
        try:
            pid = int((self.folder / "launcher.pid").read_text())
        except FileNotFoundError:
            return time.time() - (self.folder / "command.json").stat().st_mtime < STARTUP_SECONDS
        except ValueError:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            return False
        return str(self.folder).encode() in cmdline  # the pid was not reused by another program


def _spark_home() -> Path:
    from lockgate.attempt import current

    ctx = current()
    if ctx is not None:
        return Path(ctx.home).absolute() / "spark"
    from lockgate.config import load

    return load().home.absolute() / "spark"


def _submission(submission_id: str) -> Submission:
    if not isinstance(submission_id, str) or not _ID.match(submission_id):
        raise UsageError(f"spark_status: {submission_id!r} is not a submission id from spark_submit_start")
    folder = _spark_home() / submission_id
    if not (folder / "command.json").is_file():
        raise UsageError(f"spark_status: no submission {submission_id} under {folder.parent}")
    return Submission(submission_id, folder)


def _command(application: str, args: list[Any], master: str, conf: dict[str, Any], name: str | None) -> list[str]:
    if not isinstance(application, str) or not application:
        raise UsageError("spark_submit: application must be the path of a PySpark file (or a jar)")
    if "://" not in application and not Path(application).is_file():
        raise UsageError(f"spark_submit: application {application!r} is not a file")
    if not isinstance(args, list | tuple) or not isinstance(conf, dict):
        raise UsageError("spark_submit: args must be a list and conf a mapping")
    argv = [find_command("spark-submit"), "--master", str(master)]
    if name:
        argv += ["--name", str(name)]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    if application.endswith(".py") and "://" not in application:
        driver = Path(__file__).with_name("_spark_driver.py")
        name_default = [] if name else ["--name", Path(application).name]
        argv += [*name_default, str(driver), os.path.abspath(application)]
    else:
        argv.append(application)
    return argv + [str(a) for a in args]


def _start(
    application: str, args: list[Any], master: str, conf: dict[str, Any], name: str | None
) -> tuple[Submission, int]:
    argv = _command(application, args, master, conf, name)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    submission_id = f"{stamp}-{uuid.uuid4().hex[:12]}"
    folder = _spark_home() / submission_id
    folder.mkdir(parents=True)
    env = {"SPARK_LOCAL_IP": "127.0.0.1"}
    for variable in ("PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"):
        env[variable] = os.environ.get(variable, sys.executable)
    (folder / "command.json").write_text(json.dumps({"argv": argv, "env": env, "cwd": os.getcwd()}))
    launcher = Path(__file__).with_name("_spark_launcher.py")
    proc = subprocess.Popen(
        [sys.executable, "-P", str(launcher), str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # outlives the step, and a timeout can stop its whole group
    )
    log.info("submitted %s as %s: %s", application, submission_id, mask_url(" ".join(argv)))
    return Submission(submission_id, folder), proc.pid


def _read_tail(path: Path, lines: int, max_bytes: int = 256_000) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, path.stat().st_size - max_bytes))
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


def _application_id(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            head = handle.read(2_000_000).decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    match = _APP_ID.search(head)
    return next((g for g in match.groups() if g), None) if match else None


def python_exception(lines: list[str]) -> list[str]:
    """The last Python traceback in a driver log, up to the next Spark log line."""
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return []
    out: list[str] = []
    skip_code = False
    for line in lines[starts[-1] :]:
        if out and _LOG_LINE.match(line):
            break
        if skip_code and line.startswith("    "):
            skip_code = False
            continue
        skip_code = False
        if line.lstrip().startswith('File "') and ("_spark_driver.py" in line or "<frozen runpy>" in line):
            skip_code = "_spark_driver.py" in line  # lockgate's own frames, not the application's
            continue
        out.append(line)
    return out[-60:]


def _failure(application: str, code: int, app_id: str | None, lines: list[str]) -> SparkApplicationFailed:
    exception = python_exception(lines)
    tail = lines[-12:] if exception else lines[-40:]
    parts = [f"spark application {application} ({app_id or 'no application id'}) exited with code {code}"]
    if exception:
        parts += ["Python exception in the driver:", *exception]
    parts += ["last lines of the driver log:", *tail]
    return SparkApplicationFailed("\n".join(parts), exit_code=code, application_id=app_id)


@task
def spark_submit(
    application: str,
    args: list[Any] = [],  # noqa: B006 - never mutated; a JSON-friendly default
    master: str = "local[*]",
    conf: dict[str, Any] = {},  # noqa: B006
    name: str | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run a Spark application to its end; returns {"application_id", "exit_code"}.

    The driver log streams into the step's log. A nonzero exit raises SparkApplicationFailed
    (hard), whose message holds the Python exception and the driver log's last lines; past
    `timeout` seconds the application is stopped and StepTimeout raised.
    """
    if timeout is not None and timeout <= 0:
        raise UsageError(f"spark_submit: timeout must be above 0, not {timeout!r}")
    submission, pid = _start(application, list(args), master, dict(conf), name)
    deadline = None if timeout is None else time.monotonic() + timeout
    tail = Tail(400)
    status: dict[str, Any] | None = None
    try:
        with open(submission.log, "a+", encoding="utf-8", errors="replace") as driver_log:
            driver_log.seek(0)
            pending = ""
            while True:
                status = submission.ended()  # read before the log, so the log is complete once it is set
                chunk = driver_log.read()
                if chunk:
                    pending += chunk
                    *complete, pending = pending.split("\n")
                    for line in complete:
                        sys.stdout.write(line + "\n")
                        tail.add(line)
                if status is not None:
                    break
                if not submission.launcher_alive():
                    status = submission.ended() or {"exit_code": -1, "stopped": True}
                    break
                if deadline is not None and time.monotonic() > deadline:
                    stop_group(pid)
                    raise StepTimeout(
                        f"spark application {application} ran past its timeout of {timeout} s; last lines:\n"
                        + tail.text(20)
                    )
                time.sleep(POLL_SECONDS)
            pending += driver_log.read()
            for line in pending.splitlines():
                sys.stdout.write(line + "\n")
                tail.add(line)
    except BaseException:
        if status is None:
            stop_group(pid)
        raise
    code = int(status["exit_code"])
    app_id = _application_id(submission.log)
    if code != 0:
        raise _failure(application, code, app_id, tail.text().splitlines())
    return {"application_id": app_id, "exit_code": code}


@task
def spark_submit_start(
    application: str,
    args: list[Any] = [],  # noqa: B006
    master: str = "local[*]",
    conf: dict[str, Any] = {},  # noqa: B006
    name: str | None = None,
) -> dict[str, Any]:
    """Start a Spark application and return at once: {"submission_id", "pid", "log"}.

    Poll it with `spark_status(submission_id)`; it runs on if this process ends.
    """
    submission, pid = _start(application, list(args), master, dict(conf), name)
    return {"submission_id": submission.submission_id, "pid": pid, "log": str(submission.log)}


@task
def spark_status(submission_id: str) -> dict[str, Any]:
    """The state of a submission: {"state", "exit_code", "application_id", "last_lines"}.

    `state` is RUNNING, SUCCEEDED or FAILED; a launcher that vanished without recording an
    exit (a killed machine) counts as FAILED with exit_code None.
    """
    submission = _submission(submission_id)
    status = submission.ended()
    if status is None and submission.launcher_alive():
        state, code = "RUNNING", None
    else:
        status = status or submission.ended()
        code = None if status is None else int(status["exit_code"])
        state = "SUCCEEDED" if code == 0 else "FAILED"
    lines = _read_tail(submission.log, 200)
    shown = lines[-20:]
    if state == "FAILED":
        exception = python_exception(lines)
        shown = [*exception, *[line for line in lines[-10:] if line not in exception]] if exception else lines[-30:]
    return {
        "state": state,
        "exit_code": code,
        "application_id": _application_id(submission.log),
        "last_lines": "\n".join(shown),
    }
