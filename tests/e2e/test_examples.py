"""Every example in examples/ runs as `scripts/demo` runs it (examples/demo_targets.py), and does
what its docstring says: the seed's feedback pipelines, the Spark job polled by a state machine,
the Glue-style workflow, retries with a backoff rate, hard and soft failures."""

from __future__ import annotations

import ast
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import free_port, wait_for_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPARK_STORIES = {"feedback_daily", "spark_poll.asl"}  # real spark-submit in local mode: 10-30 s each


def _demos() -> list[list[tuple[str, str]]]:
    sys.path.insert(0, str(EXAMPLES))
    try:
        from demo_targets import DEMOS  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(EXAMPLES))
    return DEMOS  # type: ignore[no-any-return]


def _pipelines() -> list[str]:
    """`examples/file.py:name` of every @pipeline function in examples/, found without importing them."""
    found = []
    for path in sorted(EXAMPLES.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(
                (isinstance(d, ast.Name) and d.id == "pipeline")
                or (isinstance(d, ast.Call) and isinstance(d.func, ast.Name) and d.func.id == "pipeline")
                for d in node.decorator_list
            ):
                found.append(f"examples/{path.name}:{node.name}")
    return found


def _story_id(story: list[tuple[str, str]]) -> str:
    words = story[0][0].split()
    target = next(w for w in words if w.startswith("examples/"))
    return target.split(":")[-1] if ":" in target else Path(target).name.removesuffix(".json").removesuffix(".py")


def _argv(command: str) -> list[str]:
    """A demo command as this interpreter runs it: `lockgate` is `python -m lockgate`."""
    program, *args = command.split()
    if program == "lockgate":
        if args[0] == "run":
            args.append("--json")
        return [sys.executable, "-m", "lockgate", *args]
    assert program == "python3", command
    return [sys.executable, *args]


def _status(command: str, proc: subprocess.CompletedProcess[str]) -> str:
    if command.startswith("lockgate asl run"):
        return str(_last_json(proc.stdout)["status"])  # `asl run` exits 0 whatever the outcome
    return "SUCCEEDED" if proc.returncode == 0 else "FAILED"


def _last_json(text: str) -> dict[str, Any]:
    return json.loads(text.strip().splitlines()[-1])  # a shell step's output may come first


def lockgate(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=timeout)


def history(run_id: str) -> list[dict[str, Any]]:
    shown = lockgate("show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["history"]  # type: ignore[no-any-return]


def steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in run["steps"]}


@pytest.fixture(autouse=True)
def examples_here() -> None:
    """The demo's layout: the commands name examples/... from the current folder."""
    Path("examples").symlink_to(EXAMPLES)


def needs_spark() -> None:
    import lockgate
    from lockgate.tasks._process import find_command

    try:
        find_command("spark-submit")
    except lockgate.UsageError:
        from tests.conftest import need

        need("spark-submit is not installed: pip install 'lockgate[spark]' (needs Java 17)")


# -- what each story's runs must show, beyond their status -------------------------------------


def _check_batch(runs: list[dict[str, Any]]) -> None:
    import pyarrow.parquet as pq

    run = runs[0]
    assert run["output"]["files"] == 12 and run["output"]["rows"] == 300
    assert len(run["output"]["parquet"]) == 1 and pq.read_table(run["output"]["parquet"][0]).num_rows == 300
    assert [n for n in steps(run) if n.startswith("validate[")] == [f"validate[{i}]" for i in range(12)]


def _check_daily(runs: list[dict[str, Any]]) -> None:
    daily, load = runs
    assert steps(daily)["spark_submit"]["status"] == "SUCCEEDED"
    reviews = sum(row["reviews"] for row in daily["output"])
    assert {row["domain"] for row in daily["output"]} == {"architecture", "data", "development", "operations"}
    written = list(Path("lake/daily/enriched/received_date=2026-11-24").glob("*.parquet"))
    assert len(written) == 1
    by_sentiment = load["output"]  # the third pipeline loaded what Spark enriched
    assert set(by_sentiment) == {"negative", "neutral", "positive"}
    assert sum(v["rows"] for v in by_sentiment.values()) == reviews
    assert by_sentiment["neutral"]["mean_rating"] == 3.0


def _check_spark_poll(runs: list[dict[str, Any]]) -> None:
    run = runs[0]
    assert run["output"]["exit_code"] == 0 and run["output"]["application_id"].startswith("local-")
    events = [e["type"] for e in history(run["run_id"])]
    assert events.count("WaitStateEntered") == events.count("ChoiceStateEntered") >= 1
    assert Path("lake/spark_poll/feedback_stats").is_dir()


def _check_glue(runs: list[dict[str, Any]]) -> None:
    run = runs[0]
    assert steps(run)["notify_success"]["status"] == "SUCCEEDED"
    assert steps(run)["notify_failure"]["status"] == "SKIPPED"
    assert run["output"]["join"]["rows"] == 200 and run["output"]["aggregate"]["rows"] == 3
    for table in ("raw_feedback", "feedback_curated"):  # crawler -> job -> crawler: each zone has the new partition
        shown = json.loads(lockgate("catalog", "show", table, "--json").stdout)
        assert [p["values"] for p in shown["partitions"]] == [{"day": "2026-11-24"}]
    curated = json.loads(lockgate("catalog", "show", "feedback_curated", "--json").stdout)
    assert curated["format"] == "parquet" and curated["partitions"][0]["row_count"] == 200


def _check_glue_asl(runs: list[dict[str, Any]]) -> None:
    aggregate, join = runs[0]["output"]
    assert aggregate["rows"] == 3 and join["rows"] == 200


def _check_retry(runs: list[dict[str, Any]]) -> None:
    run = runs[0]
    assert run["output"] == {"attempts": 4}
    waits = [e["wait"] for e in history(run["run_id"]) if e["type"] == "RetryScheduled"]
    assert waits == pytest.approx([1.0, 1.5, 2.25])


def _check_failures(runs: list[dict[str, Any]]) -> None:
    run = runs[0]
    assert run["status"] == "FAILED" and run["error"] == "lockgate.DataQuality"
    assert steps(run)["validate"]["status"] == "FAILED" and steps(run)["validate"]["attempts"] == 1
    assert steps(run)["http"]["status"] == "SUCCEEDED" and steps(run)["http"]["attempts"] >= 2
    assert sorted(p.name for p in Path("lake/quarantine").iterdir()) == ["feedback.csv", "feedback.csv.report.json"]


CHECKS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "feedback_batch": _check_batch,
    "feedback_daily": _check_daily,
    "spark_poll.asl": _check_spark_poll,
    "glue_workflow": _check_glue,
    "glue_workflow.asl": _check_glue_asl,
    "retry_backoff": _check_retry,
    "hard_and_soft": _check_failures,
}


def _story_param(story: list[tuple[str, str]]) -> Any:
    name = _story_id(story)
    return pytest.param(story, id=name, marks=[pytest.mark.slow] if name in SPARK_STORIES else [])


@pytest.mark.parametrize("story", [_story_param(s) for s in _demos()])
def test_a_demo_story_ends_as_expected(story: list[tuple[str, str]]) -> None:
    if _story_id(story) in SPARK_STORIES:
        needs_spark()
    runs = []
    for command, expected in story:
        proc = subprocess.run(_argv(command), capture_output=True, text=True, timeout=240)
        assert proc.returncode in (0, 1), proc.stderr
        assert _status(command, proc) == expected, proc.stdout + proc.stderr
        if command.startswith("lockgate"):
            runs.append(_last_json(proc.stdout))
        else:
            runs.append({"stdout": proc.stdout})
    check = CHECKS.get(_story_id(story))
    if check is not None:
        check(runs)


def test_the_demo_runs_every_example() -> None:
    commands = [command for story in _demos() for command, _ in story]
    for target in _pipelines():
        assert any(c.startswith(f"lockgate run {target}") for c in commands), target
    scripts = [
        (EXAMPLES / c.split()[1].removeprefix("examples/")).read_text() for c in commands if c.startswith("python3")
    ]
    for machine in sorted(EXAMPLES.glob("*.asl.json")):  # run by `lockgate asl run`, or by a script the demo runs
        assert any(f"examples/{machine.name}" in c for c in commands) or any(machine.name in t for t in scripts)


def test_every_state_machine_is_valid() -> None:
    for machine in sorted(EXAMPLES.glob("*.asl.json")):
        done = lockgate("asl", "validate", f"examples/{machine.name}")
        assert done.returncode == 0, done.stderr


# -- the retry state machine, the manifest variant, notifications on success and failure -------


def test_the_retry_state_machine_waits_10_15_then_22_5_seconds() -> None:
    done = subprocess.run([sys.executable, "examples/retry_backoff_asl.py"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    waits = [line.split("waiting ")[1] for line in done.stdout.splitlines() if "retry after waiting" in line]
    assert waits == ["10 s)", "15 s)", "22.5 s)"]
    assert done.stdout.count("TaskFailed  lockgate.HTTPConnectionError") == 3
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "SUCCEEDED"


def test_a_manifest_event_built_by_hand_runs_its_batch_and_a_missing_file_fails_the_run() -> None:
    event = subprocess.run(
        [sys.executable, "examples/feedback_manifest.py", "--files", "5"], capture_output=True, text=True, timeout=60
    )
    assert event.returncode == 0, event.stderr
    done = lockgate("run", "examples/feedback_manifest.py:feedback_batch", "--param", f"event={event.stdout}", "--json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert "land_batch" not in steps(run) and run["output"]["files"] == 5 and run["output"]["rows"] == 125

    Path(json.loads(event.stdout)["files"][3].removeprefix("file://")).unlink()
    done = lockgate("run", "examples/feedback_manifest.py:feedback_batch", "--param", f"event={event.stdout}", "--json")
    run = json.loads(done.stdout)
    assert done.returncode == 1 and run["error"] == "lockgate.ManifestFilesMissing"
    assert "feedback-004.csv" in steps(run)["check_manifest"]["error"]["cause"]
    assert steps(run)["to_parquet"]["status"] == "SKIPPED"


def test_the_service_starts_one_batch_run_when_a_manifest_lands() -> None:
    port = free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "examples", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for_port(port, timeout=30), "lockgate serve did not start"
        landed = subprocess.run(
            [sys.executable, "examples/feedback_manifest.py", "--files", "3"], capture_output=True, timeout=60
        )
        assert landed.returncode == 0, landed.stderr
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            runs = json.loads(lockgate("runs", "--pipeline", "feedback_batch", "--json").stdout)
            if runs and runs[0]["status"] not in ("QUEUED", "RUNNING"):
                break
            time.sleep(0.3)
        assert [r["status"] for r in runs] == ["SUCCEEDED"]
        shown = json.loads(lockgate("show", runs[0]["run_id"], "--json").stdout)
        assert shown["output"]["files"] == 3 and "land_batch" not in steps(shown)
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=30)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback; yields its URL and the bodies it received."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_the_glue_workflow_notifies_its_failure_as_a_pipeline_and_as_a_state_machine(
    receiver: tuple[str, list[dict[str, Any]]],
) -> None:
    url, received = receiver
    assert lockgate("topics", "create", "data-eng").returncode == 0
    assert lockgate("topics", "subscribe", "data-eng", f"webhook:{url}", "--secret", "s3cret").returncode == 0

    done = lockgate("run", "examples/glue_workflow.py:glue_workflow", "--param", "break_join=true", "--json")
    run = json.loads(done.stdout)
    assert done.returncode == 1 and steps(run)["join"]["status"] == "FAILED"
    assert steps(run)["notify_failure"]["status"] == "SUCCEEDED" and steps(run)["notify_success"]["status"] == "SKIPPED"

    machine = ["asl", "run", "--definition", "examples/glue_workflow.asl.json", "--input"]
    failed = _last_json(
        lockgate(*machine, '{"day": "2026-11-23", "topic": "data-eng", "reference": "nowhere.csv"}').stdout
    )
    assert (failed["status"], failed["error"]) == ("FAILED", "lockgate.QueryFailed")
    succeeded = _last_json(lockgate(*machine, "examples/glue_workflow.input.json").stdout)
    assert succeeded["status"] == "SUCCEEDED"

    deadline = time.monotonic() + 20
    while len(received) < 3 and time.monotonic() < deadline:
        lockgate("notifications", "deliver")
        time.sleep(0.2)
    subjects = sorted(body["subject"] for body in received)
    assert subjects == [
        "glue_workflow 2026-11-23 FAILED",
        "glue_workflow 2026-11-24 FAILED",
        "glue_workflow 2026-11-24 succeeded",
    ]
