"""The `lockgate` command as a newcomer uses it, in a fresh process each time."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
TARGET = f"{HERE / 'cli_pipelines.py'}"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def lockgate(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_version_and_help_need_no_home(tmp_path: Path) -> None:
    assert lockgate("--version").stdout.startswith("lockgate ")
    assert "run" in lockgate("--help").stdout
    assert not (tmp_path / ".lockgate").exists()


def test_help_shows_bracketed_text_and_describes_run_id_arguments() -> None:
    wide = {"COLUMNS": "200"}
    assert "Alarms declared in lockgate.toml ([[alarms]]) and their states." in lockgate("--help", env=wide).stdout
    for command in ("resume", "retry", "cancel", "show", "logs"):
        text = lockgate(command, "--help", env=wide).stdout
        assert re.search(r"run_id\s+TEXT\s+\S.*unique prefix", text), (command, text)


def test_run_json_prints_the_run_and_exits_0() -> None:
    result = lockgate("run", f"{TARGET}:feedback", "--param", "day=2026-11-25", "--json")
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert set(run) >= {"run_id", "pipeline", "status", "output", "steps"}
    assert (run["pipeline"], run["status"], run["output"]) == ("feedback", "SUCCEEDED", 1)
    assert run["params"] == {"day": "2026-11-25", "limit": 10}
    names = [s["name"] for s in run["steps"]]
    assert names == ["extract", "score", "score[0]", "score[1]", "score[2]", "load"]
    step = run["steps"][0]
    assert set(step) == {"name", "status", "attempts", "started_at", "ended_at", "error"}
    assert ISO_Z.match(step["started_at"]) and step["attempts"] == 1 and step["error"] is None


def test_run_without_json_shows_the_steps_and_the_output() -> None:
    result = lockgate("run", f"{TARGET}:feedback")
    assert result.returncode == 0
    assert "SUCCEEDED" in result.stdout and "score[2]" in result.stdout and "output: 1" in result.stdout


WIDE = """
from lockgate import pipeline, task

@task
def summarize() -> list:
    return [{"sentiment_label": f"label_{i}", "mean_rating_rounded": i + 0.25, "flags": [True, None]} for i in range(5)]

@pipeline
def wide():
    return summarize()
"""


def test_long_json_output_is_shown_whole_and_folded_between_items(tmp_path: Path) -> None:
    (tmp_path / "wide.py").write_text(WIDE)
    result = lockgate("run", f"{tmp_path / 'wide.py'}:wide", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert "..." not in result.stdout
    for i in range(5):
        assert f'"sentiment_label": "label_{i}",' in result.stdout  # one item a line, no word cut in two
    assert result.stdout.count('"flags": [') == 5 and "true," in result.stdout  # brackets are not markup
    shown = lockgate("show", json.loads(lockgate("runs", "--json").stdout)[0]["run_id"], env={"COLUMNS": "80"})
    assert "label_4" in shown.stdout and "..." not in shown.stdout


def test_a_failed_run_exits_1_and_names_the_step_and_error() -> None:
    result = lockgate("run", f"{TARGET}:failing", "--json")
    assert result.returncode == 1
    run = json.loads(result.stdout)
    assert run["status"] == "FAILED" and run["error"] == "RuntimeError"
    assert "step explode failed: the warehouse is read-only today" in run["cause"]
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["alert"]["status"] == "SUCCEEDED"


def test_runs_show_and_logs() -> None:
    first = json.loads(lockgate("run", f"{TARGET}:feedback", "--json").stdout)
    second = json.loads(lockgate("run", f"{TARGET}:failing", "--json").stdout)
    runs = json.loads(lockgate("runs", "--json").stdout)
    assert [r["run_id"] for r in runs] == [second["run_id"], first["run_id"]]
    assert set(runs[0]) == {"run_id", "pipeline", "status", "started_at", "ended_at", "created_by"}
    failed = json.loads(lockgate("runs", "--status", "FAILED", "--json").stdout)
    assert [r["run_id"] for r in failed] == [second["run_id"]]
    assert json.loads(lockgate("runs", "--pipeline", "feedback", "--json").stdout)[0]["run_id"] == first["run_id"]

    shown = json.loads(lockgate("show", first["run_id"], "--json").stdout)
    types = [e["type"] for e in shown["history"]]
    assert types[0] == "RunStarted" and types[-1] == "RunSucceeded" and "StepMapped" in types
    assert "reading feedback for 2026-11-24" in lockgate("logs", first["run_id"], "extract").stdout
    failed_log = lockgate("logs", second["run_id"], "explode").stdout
    assert "RuntimeError: the warehouse is read-only today" in failed_log and "Traceback" in failed_log


def test_cancel_a_finished_run_is_refused() -> None:
    run = json.loads(lockgate("run", f"{TARGET}:feedback", "--json").stdout)
    result = lockgate("cancel", run["run_id"])
    assert result.returncode == 2 and "already finished (SUCCEEDED)" in result.stderr


def test_bad_input_exits_2_with_a_clear_message_and_no_traceback() -> None:
    made = lockgate("run", f"{TARGET}:feedback", "--param", "day=2026-11-25", "--json")
    assert made.returncode == 0, made.stderr  # a home, so `show` has somewhere to look
    cases = {
        ("run", f"{TARGET}:nope"): "has no 'nope'",
        ("run", f"{TARGET}:feedbak"): "has no 'feedbak'; did you mean 'feedback'? (its pipelines: broken_body, cyclic,",
        ("run", "missing.py:x"): "missing.py: no such file",
        ("run", f"{TARGET}:feedback", "--param", "limit=lots"): "parameter 'limit': 'lots' is not a valid int",
        ("run", f"{TARGET}:feedback", "--param", "colour=red"): "has no parameter 'colour'",
        ("run", f"{TARGET}:cyclic"): "pipeline cyclic in " + TARGET + " has a cycle: extract -> load -> extract",
        ("run", f"{TARGET}:extract"): "is a Task, not a @pipeline",
        ("show", "nosuchrun"): "no run 'nosuchrun'",
        ("runs", "--status", "DONE"): "--status 'DONE' is not one of",
        ("run", f"{TARGET}:miscalled"): "cli_pipelines.py:51: step extract: missing a required argument: 'day'",
        ("run", f"{TARGET}:broken_body"): "cli_pipelines.py:56: building pipeline broken_body failed: NameError",
    }
    for args, message in cases.items():
        result = lockgate(*args)
        assert result.returncode == 2, args
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_user_file_in_a_folder_named_lockgate_keeps_its_file_and_line(tmp_path: Path) -> None:
    # A project (or a clone of lockgate) under a folder named lockgate is still the user's code.
    project = tmp_path / "lockgate" / "proj"
    project.mkdir(parents=True)
    (project / "file.py").write_text(
        "from lockgate import pipeline\n\n\n@pipeline\ndef broken():\n    return undefined_name\n"
    )
    result = lockgate("run", f"{project / 'file.py'}:broken")
    assert result.returncode == 2
    assert "file.py:6: building pipeline broken failed: NameError" in result.stderr, result.stderr


def test_reading_where_there_is_no_home_says_so_in_one_line_and_creates_nothing(tmp_path: Path, home: Path) -> None:
    for args in (["runs"], ["show", "1m8t1sb4"], ["catalog", "tables"], ["notifications"]):
        result = lockgate(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(f"error: no lockgate home here: {home} does not exist (set by LOCKGATE_HOME)")
        assert result.stderr.count("\n") == 1, result.stderr
    (tmp_path / "pipelines").mkdir()
    flows = "from lockgate import pipeline\n\n@pipeline\ndef nightly():\n    pass\n"
    (tmp_path / "pipelines" / "flows.py").write_text(flows)
    listed = lockgate("pipelines", "--json")  # a folder's pipelines are listed without a home
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["name"] == "nightly", listed.stderr
    queried = lockgate("query", "SELECT 41 + 1 AS answer", "--json")  # SQL over raw URIs needs no catalog
    assert queried.returncode == 0 and json.loads(queried.stdout) == [{"answer": 42}], queried.stderr
    assert not home.exists() and not (tmp_path / ".lockgate").exists()


def test_without_settings_the_message_names_the_default_home_and_how_to_choose_another(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "LOCKGATE_HOME"}
    result = subprocess.run([sys.executable, "-m", "lockgate", "runs"], capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert f"no lockgate home here: {tmp_path / '.lockgate'} does not exist (the default; set LOCKGATE_HOME" in (
        result.stderr
    )
    assert not (tmp_path / ".lockgate").exists()


def test_a_wrong_home_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import sqlite3

    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "lockgate.db").write_text("these are notes, not a database\n" * 40)
    (tmp_path / "other").mkdir()
    sqlite3.connect(tmp_path / "other" / "lockgate.db").execute("CREATE TABLE invoices (id INTEGER)").connection.close()
    cases = {
        "afile": f"error: the lockgate home {tmp_path / 'afile'} is a file, not a folder (set by LOCKGATE_HOME)",
        "garbled": f"error: {tmp_path / 'garbled' / 'lockgate.db'} is not a lockgate database: file is not a database",
        "other": f"error: {tmp_path / 'other' / 'lockgate.db'} is not a lockgate database: it has no runs table",
    }
    for home, message in cases.items():
        result = lockgate("runs", env={"LOCKGATE_HOME": str(tmp_path / home)})
        assert result.returncode == 2 and result.stderr.startswith(message), (home, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    ran = lockgate("run", f"{TARGET}:feedback", "--json", env={"LOCKGATE_HOME": str(tmp_path / "garbled")})
    assert ran.returncode == 2 and "lockgate.db is not a database lockgate can use" in ran.stderr, ran.stderr


def test_a_syntax_error_in_the_pipeline_file_names_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("from lockgate import pipeline\n\n@pipeline\ndef p(:\n    pass\n")
    result = lockgate("run", f"{broken}:p")
    assert result.returncode == 2 and "broken.py:4: syntax error" in result.stderr


def test_config_json_masks_secrets(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text('[smtp]\nhost = "mail.example.com"\npassword = "hunter2"\n')
    env = {
        "LOCKGATE_SMTP__PORT": "2525",
        "LOCKGATE_DATABASE_URL": "postgresql+psycopg://app:s3cret@db.example.com/lockgate",
    }
    settings = json.loads(lockgate("config", "--json", env=env).stdout)
    assert settings["smtp"]["host"] == "mail.example.com"
    assert settings["smtp"]["port"] == 2525
    assert settings["smtp"]["password"] == "***"
    assert settings["database_url"] == "postgresql+psycopg://app:***@db.example.com/lockgate"
    assert "hunter2" not in json.dumps(settings) and "s3cret" not in json.dumps(settings)


def test_a_module_target_runs_too(tmp_path: Path) -> None:
    package = tmp_path / "mypipes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "daily.py").write_text(
        "from lockgate import pipeline, task\n@task\ndef hello() -> str:\n    return 'hi'\n"
        "@pipeline\ndef daily():\n    return hello()\n"
    )
    result = lockgate("run", "mypipes.daily:daily", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["output"] == "hi"


def test_usage_errors_exit_2_without_a_traceback() -> None:
    for args in (("runs", "--bogus"), ("run",), ("nosuch",)):
        result = lockgate(*args)
        assert result.returncode == 2, args
        assert "Traceback" not in result.stderr and "Error:" in result.stderr
