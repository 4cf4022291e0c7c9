"""The trigger service's commands, run as users run them."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

FLOWS = """
from lockgate import pipeline, task
from lockgate.triggers import Cron, FileArrival, PipelineSucceeded

@task
def show(value):
    return value

@pipeline(triggers=[Cron("0 6 * * *", timezone="Europe/Paris")], max_active_runs=2)
def daily(logical_date: str):
    return show(logical_date)

@pipeline(triggers=[PipelineSucceeded("daily")])
def report(event: dict):
    return show(event["run_id"])

@pipeline
def adhoc(count: int, label: str = "x"):
    return show({"count": count, "label": label})
"""


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(FLOWS)
    return tmp_path


def test_pipelines_lists_triggers_pauses_and_dependencies(project: Path) -> None:
    assert lockgate("pause", "report").stdout.strip() == "report paused"
    listed = lockgate("pipelines", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["daily"]["triggers"] == ["cron 0 6 * * * Europe/Paris"]
    assert rows["daily"]["downstream"] == ["report"] and rows["report"]["upstream"] == ["daily"]
    assert rows["report"]["paused"] is True and rows["daily"]["paused"] is False
    assert lockgate("unpause", "report").stdout.strip() == "report unpaused"
    assert lockgate("unpause", "report").stdout.strip() == "report was not paused"
    table = lockgate("pipelines")
    assert "daily" in table.stdout and "report" in table.stdout


def test_trigger_queues_once_per_key_and_wait_runs_it(project: Path) -> None:
    first = lockgate("trigger", "adhoc", "--param", "count=3", "--idempotency-key", "k1", "--json")
    assert first.returncode == 0, first.stderr
    made = json.loads(first.stdout)
    again = json.loads(lockgate("trigger", "adhoc", "--param", "count=3", "--idempotency-key", "k1", "--json").stdout)
    assert (again["run_id"], again["created"]) == (made["run_id"], False)
    runs = json.loads(lockgate("runs", "--json").stdout)
    assert [(r["run_id"], r["status"]) for r in runs] == [(made["run_id"], "QUEUED")]
    waited = lockgate("trigger", "adhoc", "-p", "count=4", "-p", "label=y", "--wait", "--json")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["output"] == {"count": 4, "label": "y"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["trigger", "nope"], "no pipeline 'nope' in pipelines"),
        (["trigger", "adhoc", "--param", "count=many"], "parameter 'count': 'many' is not a valid int"),
        (
            ["backfill", "adhoc", "--start", "2026-11-01", "--end", "2026-11-02"],
            "adhoc has no Cron or Interval trigger",
        ),
        (["backfill", "daily", "--start", "2026-11-05", "--end", "2026-11-01"], "--end 2026-11-01 is before --start"),
        (["backfill", "daily", "--start", "Nov 1", "--end", "2026-11-01"], "--start 'Nov 1': expected a date"),
        (["pipelines", "--pipelines", "missing"], "--pipelines missing: no such folder"),
    ],
)
def test_bad_input_exits_2_naming_the_fault(project: Path, args: list[str], message: str) -> None:
    done = lockgate(*args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_backfill_runs_each_slot_once_and_skips_slots_that_have_runs(project: Path) -> None:
    first = lockgate("backfill", "daily", "--start", "2026-11-20", "--end", "2026-11-24", "--max-active", "3", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert (result["slots"], result["queued"], result["skipped"]) == (5, 5, 0)
    assert sorted(r["logical_date"] for r in result["runs"]) == [f"2026-11-{d}T06:00:00+01:00" for d in range(20, 25)]
    assert {r["status"] for r in result["runs"]} == {"SUCCEEDED"}
    second = lockgate("backfill", "daily", "--start", "2026-11-01", "--end", "2026-11-24")
    assert second.returncode == 0, second.stderr
    assert "24 slots: 19 run, 5 already had a run; 0 did not succeed" in second.stdout
    runs = json.loads(lockgate("runs", "--json", "--pipeline", "daily").stdout)
    assert len(runs) == 24 and {r["status"] for r in runs} == {"SUCCEEDED"}
