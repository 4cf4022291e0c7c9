"""What the crash and load suites share: sizes, a fresh store per test, `lockgate serve` started,
killed and restarted, triggers that retry while the service is down, a side-effect ledger, and
checks of histories against it.

Sizes: each suite has a CI size and a full size; `LOCKGATE_CHAOS_FULL=1` picks the full one,
and `LOCKGATE_CHAOS_<NAME>` sets one number outright (`LOCKGATE_CHAOS_RUNS=60`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import free_port, new_postgres_database, wait_for_port

FULL_FLAG = "LOCKGATE_CHAOS_FULL"


def full() -> bool:
    return os.environ.get(FULL_FLAG, "").lower() in ("1", "true", "yes")


def size(name: str, ci: int, full_size: int) -> int:
    """A suite's size: LOCKGATE_CHAOS_<NAME> if set, else the full or the CI size."""
    value = os.environ.get(f"LOCKGATE_CHAOS_{name.upper()}")
    if value:
        return int(value)
    return full_size if full() else ci


# -- stores ----------------------------------------------------------------------------------------


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A database of its own on the shared PostgreSQL server, migrated once (before any `serve`
    starts: two processes migrating a fresh database at once collide), dropped afterwards."""
    with new_postgres_database("lockgate_chaos") as url:
        from lockgate.store.sql import SqlStore

        SqlStore(url).engine.dispose()  # migrates
        yield url


def use_store(store: str, monkeypatch: Any, stack: Any) -> None:
    """Point this test (and every process it starts) at a fresh SQLite or PostgreSQL store."""
    if store == "postgres":
        monkeypatch.setenv("LOCKGATE_DATABASE_URL", stack.enter_context(fresh_postgres()))
    else:
        from lockgate.runtime import default_runtime

        default_runtime()  # creates and migrates the home's SQLite file before serve starts


# -- the service -----------------------------------------------------------------------------------


@dataclass
class Service:
    """`lockgate serve` on one port, started again after each kill; its output kept in a file."""

    folder: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    kills: list[tuple[int, float]] = field(default_factory=list)  # (pid, when)

    def start(self, timeout: float = 60, wait: bool = True) -> None:
        with open(self.log, "ab") as out:
            out.write(f"--- serve started at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lockgate", "serve", "--pipelines", str(self.folder), "--port", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pids.append(self.proc.pid)
        if wait and not wait_for_port(self.port, timeout=timeout):
            self.proc.kill()
            raise AssertionError(f"serve never listened on {self.port}:\n{self.output()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.kills.append((self.proc.pid, time.time()))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, home: Path) -> str:
        """The admin token `serve` made for a fresh home."""
        return (home / "admin.token").read_text().strip()


def post_json(url: str, body: Any, token: str, timeout: float = 30) -> tuple[int, str]:
    """POST a JSON body; (status, text), or (0, the error) when nothing answered."""
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:  # refused, reset, timed out: the service is down or restarting
        return 0, f"{type(exc).__name__}: {exc}"


def trigger_until_answered(
    service: Service, token: str, name: str, params: dict[str, Any], key: str, answers: list[str], deadline: float
) -> dict[str, Any]:
    """Trigger through the API, again with the same idempotency key until the service answers
    (it may be dead or restarting): the key makes the retries create one run at most."""
    while True:
        status, text = post_json(
            f"{service.url}/api/pipelines/{name}/trigger", {"params": params, "idempotency_key": key}, token
        )
        answers.append(f"{status} {text}")
        if status == 200:
            return json.loads(text)  # type: ignore[no-any-return]
        assert status in (0, 502, 503), f"trigger {name} {key}: {status} {text}"
        assert time.monotonic() < deadline, f"trigger {name} {key} never answered: {status} {text}"
        time.sleep(0.2)


def lockgate_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=timeout)


# -- reading what happened -------------------------------------------------------------------------


def store_runs() -> list[Any]:
    """Every run of the test's store (RunRecords), read in this process."""
    from lockgate.runtime import default_runtime

    return list(default_runtime().store.list_runs(limit=1_000_000))


def first_step_times() -> dict[str, float]:
    """Per run, when its first step started (Python: the first StepStarted; a state machine: its
    RunStarted, which its first state follows in the same transaction)."""
    import sqlalchemy as sa

    from lockgate.runtime import default_runtime
    from lockgate.store.schema import events

    engine = default_runtime().store.engine  # type: ignore[attr-defined]
    query = (
        sa.select(events.c.run_id, sa.func.min(events.c.at))
        .where(events.c.type.in_(["StepStarted", "AslAdvanced"]))
        .group_by(events.c.run_id)
    )
    with engine.connect() as conn:
        return {run_id: at for run_id, at in conn.execute(query)}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def latency_line(what: str, values: list[float]) -> str:
    return (
        f"{what}: n={len(values)} p50={percentile(values, 50) * 1000:.0f} ms "
        f"p99={percentile(values, 99) * 1000:.0f} ms max={max(values) * 1000:.0f} ms"
    )


# -- the side-effect ledger ------------------------------------------------------------------------

LEDGER_CODE = '''
import json, os, time, uuid
from pathlib import Path

LEDGER = Path(__file__).resolve().parent.parent / "ledger.jsonl"


def note(entry):
    """One line per start and end of a task, appended with O_APPEND (atomic for a short line)."""
    line = json.dumps({**entry, "pid": os.getpid(), "at": time.time()}) + "\\n"
    fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
'''


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def check_python_history(run_id: str, history: list[dict[str, Any]], final: bool = True) -> list[str]:
    """A Python run's history: ids 1..n; one RunStarted first; no StepStarted twice for one
    attempt; one outcome per attempt started (none for one never started); one end, last."""
    problems = []
    ids = [e["id"] for e in history]
    if ids != list(range(1, len(ids) + 1)):
        problems.append(f"{run_id}: event ids are not 1..{len(ids)}: {ids}")
    if not history or history[0]["type"] != "RunStarted" or sum(e["type"] == "RunStarted" for e in history) != 1:
        problems.append(f"{run_id}: does not start with one RunStarted")
    started = Counter((e["step"], e["attempt"]) for e in history if e["type"] == "StepStarted")
    ended = Counter(
        (e["step"], e["attempt"])
        for e in history
        if e["type"] in ("StepSucceeded", "StepFailed") and e.get("attempt", 0) > 0
    )
    interrupted = Counter((e["step"], e["attempt"]) for e in history if e["type"] == "StepInterrupted")
    succeeded = {(e["step"], e["attempt"]) for e in history if e["type"] == "StepSucceeded"}
    outcomes = ended + interrupted
    problems += [f"{run_id}: {k} started {n} times" for k, n in started.items() if n > 1]
    problems += [f"{run_id}: {k} has {n} outcomes" for k, n in ended.items() if n > 1]
    problems += [f"{run_id}: {k} interrupted {n} times" for k, n in interrupted.items() if n > 1]
    problems += [f"{run_id}: {k} both succeeded and was interrupted" for k in succeeded if k in interrupted]
    problems += [f"{run_id}: {k} has an outcome but never started" for k in outcomes if k not in started]
    if final:
        problems += [f"{run_id}: {k} started and never ended" for k in started if k not in outcomes]
        ends = [
            i for i, e in enumerate(history) if e["type"] in ("RunSucceeded", "RunFailed", "RunTimedOut", "RunAborted")
        ]
        if len(ends) != 1 or ends[0] != len(history) - 1:
            problems.append(
                f"{run_id}: {len(ends)} end events, the last at {ends[-1] if ends else None} of {len(history)}"
            )
    return problems


def check_asl_history(run_id: str, history: list[dict[str, Any]]) -> list[str]:
    """A state machine's history: ids 1..n, each event's previous one before it, one
    ExecutionStarted first, one end last, at most one outcome per TaskScheduled."""
    problems = []
    ids = [e["id"] for e in history]
    if ids != list(range(1, len(ids) + 1)):
        problems.append(f"{run_id}: event ids are not 1..{len(ids)}")
    if (
        not history
        or history[0]["type"] != "ExecutionStarted"
        or sum(e["type"] == "ExecutionStarted" for e in history) != 1
    ):
        problems.append(f"{run_id}: does not start with one ExecutionStarted")
    for event in history:
        if event.get("previousEventId", 0) >= event["id"]:
            problems.append(f"{run_id}: event {event['id']} follows a later one ({event['previousEventId']})")
    ends = [
        i
        for i, e in enumerate(history)
        if e["type"].startswith("Execution") and e["type"] not in ("ExecutionStarted", "ExecutionRedriven")
    ]
    if len(ends) != 1 or ends[0] != len(history) - 1:
        problems.append(f"{run_id}: {len(ends)} end events")
    outcome_of: Counter[int] = Counter()
    for event in history:
        if event["type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            outcome_of[event.get("previousEventId", 0)] += 1
    problems += [f"{run_id}: the task of event {k} has {n} outcomes" for k, n in outcome_of.items() if n > 1]
    return problems


def check_ledger(ledger: list[dict[str, Any]], committed: dict[tuple[Any, ...], str]) -> list[str]:
    """No task ran again once its success was committed.

    `committed` maps a task's key (what identifies one execution of it: run, step, attempt for a
    Python step; run, state, Map index and retry count for a state machine's Task) to the token
    of the invocation whose result the history holds. An invocation may run again while its
    result is not committed (its process died in between: at least once); after the committed
    invocation ended, no entry of that key may follow in the ledger.
    """
    problems = []
    position: dict[str, int] = {}
    by_key: dict[tuple[Any, ...], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, entry in enumerate(ledger):
        key = tuple(entry["key"])
        by_key[key].append((i, entry))
        if entry["what"] == "done":
            position.setdefault(entry["token"], i)
    for key, token in committed.items():
        at = position.get(token)
        if at is None:
            problems.append(f"{key}: the committed result {token} has no ledger entry")
            continue
        later = [e for i, e in by_key[key] if i > at]
        if later:
            problems.append(f"{key} succeeded ({token}) and ran again: {later[:3]}")
    return problems


def summary(name: str, lines: list[str]) -> None:
    """Print a suite's figures, one line each (shown with pytest -s)."""
    for line in lines:
        print(f"[{name}] {line}", flush=True)


class Feeder(threading.Thread):
    """Runs (when, action) pairs, each no sooner than `when` seconds after the start, on a few
    threads (a CLI trigger takes a second or more); collects what failed."""

    def __init__(self, actions: list[tuple[float, Any]], threads: int = 4) -> None:
        super().__init__(daemon=True, name="chaos-feeder")
        self.actions = sorted(actions, key=lambda a: a[0])
        self.threads = threads
        self.errors: list[str] = []

    def run(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        start = time.monotonic()
        with ThreadPoolExecutor(self.threads) as pool:
            for when, action in self.actions:
                delay = start + when - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(self._one, action)

    def _one(self, action: Any) -> None:
        try:
            action()
        except BaseException as exc:  # reported by the test
            self.errors.append(f"{type(exc).__name__}: {exc}")


def wait_until_or_report(predicate: Any, timeout: float, every: float = 1.0) -> Any:
    """wait_until, failing with the runs still unfinished (and how many runs there are)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    runs = store_runs()
    stuck = [f"{r.pipeline} {r.run_id} {r.status} owner={r.owner}" for r in runs if r.status in ("QUEUED", "RUNNING")]
    raise AssertionError(f"after {timeout} s: {len(runs)} runs, {len(stuck)} unfinished: {stuck[:30]}")
