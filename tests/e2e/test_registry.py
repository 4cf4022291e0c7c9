"""What a running `serve` serves, seen from another folder; reloads of changed files; reruns via the service."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import free_port, wait_until

FLOWS = """
from lockgate import pipeline, task

@task
def double(n: int) -> int:
    return n * 2

@task
def add_one(n: int) -> int:
    return n + 1

@pipeline
def daily(n: int, label: str = "x"):
    return add_one(double(n))
"""

CYCLIC = """
from lockgate import pipeline, task

@task
def step(day: str) -> str:
    return day

@pipeline
def looped(day: str, limit: int):
    first = step(day)
    second = step(first)
    second >> first
"""

BROKEN = "from lockgate import pipeline\n\n@pipeline\ndef broken(:\n    pass\n"


def lockgate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60, cwd=cwd
    )


AUTH: dict[str, str] = {}  # the Authorization header of this test's admin token


def api(url: str, path: str) -> Any:
    return httpx.get(f"{url}{path}", headers=AUTH, timeout=10).json()


@pytest.fixture
def service(tmp_path: Path, admin_token: str):
    """`lockgate serve` in tmp/service (a broken file among its pipelines); yields (url, folder, elsewhere)."""
    folder = tmp_path / "service" / "pipelines"
    folder.mkdir(parents=True)
    (folder / "flows.py").write_text(FLOWS)
    (folder / "broken.py").write_text(BROKEN)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    AUTH["Authorization"] = f"Bearer {admin_token}"
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--port", str(port)],
        cwd=tmp_path / "service",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {proc.stderr.read()}")
        try:
            return httpx.get(f"{url}/api/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up)
    try:
        yield url, folder, elsewhere
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def served(url: str) -> dict[str, dict]:
    return {row["name"]: row for row in api(url, "/api/pipelines")}


@pytest.mark.slow
def test_the_cli_elsewhere_lists_and_triggers_what_the_service_serves(service) -> None:
    url, folder, elsewhere = service
    listed = lockgate("pipelines", "--json", cwd=elsewhere)
    assert listed.returncode == 2  # a file of the served folder does not load
    rows = json.loads(listed.stdout)
    (daily,) = [r for r in rows if r["name"] == "daily"]
    assert daily["kind"] == "python" and daily["source_file"] == str(folder / "flows.py")
    assert daily["parameters"][0] == {"name": "n", "type": "int", "required": True, "default": None}
    (error,) = [r for r in rows if r["kind"] == "import_error"]
    assert (Path(error["file"]).name, error["line"]) == ("broken.py", 4) and "syntax error" in error["message"]
    assert "import error" in listed.stderr and listed.stderr.count("broken.py:4") == 1, listed.stderr
    assert api(url, "/api/import_errors")[0]["line"] == 4

    refused = lockgate("trigger", "daily", "-p", "n=many", cwd=elsewhere)
    assert refused.returncode == 2 and "parameter 'n': 'many' is not a valid int" in refused.stderr
    queued = lockgate("trigger", "daily", "-p", "n=4", "--json", cwd=elsewhere)
    assert queued.returncode == 0, queued.stderr
    run_id = json.loads(queued.stdout)["run_id"]

    def finished() -> dict | None:
        shown = json.loads(lockgate("show", run_id, "--json", cwd=elsewhere).stdout)
        return shown if shown["status"] == "SUCCEEDED" else None

    shown = wait_until(finished)
    assert shown["output"] == 9 and shown["version"] == daily["version"]

    cleared = lockgate("clear", run_id, "add_one", "--json", cwd=elsewhere)
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["carried_on_by"] == "service"

    def carried_on() -> dict | None:
        shown = json.loads(lockgate("show", run_id, "--json", cwd=elsewhere).stdout)
        return shown if shown["status"] == "SUCCEEDED" and shown["steps"][-1]["attempts"] == 2 else None

    again = wait_until(carried_on)
    assert [s["attempts"] for s in again["steps"]] == [1, 2]
    assert [e["type"] for e in again["history"]].count("StepsCleared") == 1


@pytest.mark.slow
def test_added_changed_fixed_and_removed_files_are_served_within_two_seconds(service) -> None:
    url, folder, _ = service
    before = served(url)["daily"]["version"]

    def within_two_seconds(check) -> None:
        started = time.monotonic()
        wait_until(check, timeout=10, every=0.05)
        assert time.monotonic() - started <= 2.0

    (folder / "more.py").write_text(FLOWS.replace("def daily", "def weekly"))
    within_two_seconds(lambda: "weekly" in served(url))
    (folder / "flows.py").write_text(FLOWS + "\n# a comment makes a new version\n")
    within_two_seconds(lambda: served(url)["daily"]["version"] != before)
    (folder / "broken.py").write_text(FLOWS.replace("def daily", "def fixed").replace("double", "twice"))
    within_two_seconds(lambda: "fixed" in served(url) and not api(url, "/api/import_errors"))
    (folder / "cyc.py").write_text(CYCLIC)  # a cycle in a pipeline whose parameters have no defaults
    within_two_seconds(lambda: api(url, "/api/import_errors"))
    (error,) = api(url, "/api/import_errors")
    assert Path(error["file"]).name == "cyc.py" and error["line"] == CYCLIC.splitlines().index("@pipeline") + 1
    assert error["message"] == "pipeline looped in pipelines/cyc.py has a cycle: step -> step__2 -> step"
    assert "looped" not in served(url)
    os.remove(folder / "cyc.py")
    within_two_seconds(lambda: not api(url, "/api/import_errors"))
    os.remove(folder / "more.py")
    within_two_seconds(lambda: "weekly" not in served(url))
    text = FLOWS + "\nundefined_name\n"
    (folder / "flows.py").write_text(text)
    within_two_seconds(lambda: api(url, "/api/import_errors"))
    (error,) = api(url, "/api/import_errors")
    assert error["line"] == text.splitlines().index("undefined_name") + 1 and "NameError" in error["message"]
    assert set(served(url)) == {"fixed"}  # the other file is still served


def test_a_folder_without_a_service_says_how_to_point_at_one(tmp_path: Path) -> None:
    listed = lockgate("pipelines", "--json", cwd=tmp_path)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert "no service has registered pipelines" in listed.stderr
    refused = lockgate("trigger", "boom", cwd=tmp_path)
    assert refused.returncode == 2 and "lockgate serve --pipelines DIR" in refused.stderr


def test_lockgate_toml_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "flows.py").write_text(FLOWS)
    (tmp_path / "lockgate.toml").write_text('[service]\npipelines = "code"\n')
    listed = lockgate("pipelines", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [r["name"] for r in json.loads(listed.stdout)] == ["daily"]
