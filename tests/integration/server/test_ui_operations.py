"""The UI's day-two pages: import errors, next runs, the trigger form, clear and mark, the timeline, HTML errors."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lockgate.runtime import default_runtime

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")

FLOWS = """
from lockgate import pipeline, task
from lockgate.triggers import Cron

@task
def double(n: int) -> int:
    print(f"doubling {n}")
    return n * 2

@task
def add_one(n: int) -> int:
    return n + 1

@pipeline(triggers=[Cron("0 6 * * *")])
def ops_daily(n: int = 1, label: str = "x"):
    return add_one(double(n))

@pipeline
def ops_adhoc(n: int):
    return double(n)
"""


@pytest.fixture
def served(tmp_path: Path, home: Path, admin_headers: dict[str, str]) -> Iterator[tuple[Any, Any]]:
    """A scheduler serving a folder (one file broken, one state machine in its lockgate.toml), and a client."""
    from fastapi.testclient import TestClient

    from lockgate.server.app import create_app
    from lockgate.triggers.scheduler import Scheduler
    from lockgate.triggers.served import FolderReloader

    folder = tmp_path / "pipes"
    folder.mkdir()
    (folder / "ops_flows.py").write_text(FLOWS)
    (folder / "ops_broken.py").write_text("from lockgate import pipeline\n\n@pipeline\ndef broken(:\n    pass\n")
    machine = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}}
    (folder / "m.asl.json").write_text(json.dumps(machine))
    (folder / "lockgate.toml").write_text('[asl.state_machines.ops_machine]\ndefinition = "m.asl.json"\n')
    runtime = default_runtime()
    reloader = FolderReloader(runtime, folder)
    reloader.load()
    scheduler = Scheduler(runtime, reloader.last.items)
    scheduler.reloader = reloader
    scheduler.start()
    try:
        with TestClient(create_app(runtime), base_url="http://127.0.0.1", headers=admin_headers) as client:
            yield scheduler, client
    finally:
        scheduler.close()


def finish(scheduler: Any, run_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        scheduler.tick()
        record = scheduler.runtime.store.get_run(run_id)
        if record.status in ("SUCCEEDED", "FAILED"):
            return record
        assert time.monotonic() < deadline, f"run {run_id} is still {record.status}"
        scheduler.dispatcher.wait_idle(0.2)


def test_the_pipelines_page_shows_import_errors_next_runs_versions_and_served_state_machines(served) -> None:
    scheduler, client = served
    page = client.get("/ui/pipelines").text
    banner = page.split('id="import-errors"')[1].split("</div>")[0]
    assert "ops_broken.py:4" in banner and "syntax error" in banner
    row = page.split('data-pipeline="ops_daily"')[1].split("</tr>")[0]
    assert 'href="/ui/pipelines/ops_daily/trigger"' in row
    assert scheduler.next_runs()["ops_daily"] and "06:00:00" in row.split('class="next-run">')[1].split("</td>")[0]
    assert scheduler.pipelines["ops_daily"].version in row
    machines = page.split('id="machines"')[1].split("</table>")[0]
    assert 'data-machine="ops_machine"' in machines and "<td>JSONPath</td><td>2</td>" in machines


def test_the_trigger_form_is_made_of_the_typed_parameters_and_validates_as_the_cli(served) -> None:
    scheduler, client = served
    form = client.get("/ui/pipelines/ops_adhoc/trigger").text
    assert 'name="n"' in form and ">int<" in form and "required" in form and 'type="number"' in form
    refused = client.post("/ui/pipelines/ops_adhoc/trigger", data={"n": "many"}, follow_redirects=False)
    assert refused.status_code == 400 and '<p class="field-error" id="error-n">' in refused.text
    assert "&#39;many&#39; is not a valid int" in refused.text and "<html" in refused.text
    flashed = client.post("/ui/pipelines/ops_adhoc/trigger", data={"n": "many"}, headers={"HX-Request": "true"})
    assert flashed.status_code == 200 and "not a valid int" in flashed.text and "<html" not in flashed.text
    assert flashed.text.lstrip().startswith('<form id="trigger-form"')  # the form alone, swapped in place
    made = client.post("/ui/pipelines/ops_adhoc/trigger", data={"n": "21"}, follow_redirects=False)
    assert made.status_code == 303
    run_id = made.headers["location"].rsplit("/", 1)[1]
    assert finish(scheduler, run_id).output == 42
    assert 'name="input"' in client.get("/ui/pipelines/ops_machine/trigger").text
    bad = client.post("/ui/pipelines/ops_machine/trigger", data={"input": "[1"}, follow_redirects=False)
    assert bad.status_code == 400 and 'id="error-input"' in bad.text and "not JSON" in bad.text
    queued = client.post("/ui/pipelines/ops_machine/trigger", data={"input": '{"k": 1}'}, follow_redirects=False)
    assert queued.status_code == 303
    assert finish(scheduler, queued.headers["location"].rsplit("/", 1)[1]).output == {"k": 1}
    scheduler.close()  # no longer served here: the state machine is known from its run, type and states too
    machines = client.get("/ui/pipelines").text.split('id="machines"')[1].split("</table>")[0]
    row = machines.split('data-machine="ops_machine"')[1].split("</tr>")[0]
    assert "<td>JSONPath</td><td>2</td>" in row and "no (run from a file)" in row


def test_clear_and_mark_from_the_run_page_go_through_the_service_and_the_timeline_shows_attempts(served) -> None:
    scheduler, client = served
    made = client.post("/ui/pipelines/ops_daily/trigger", data={"n": "2"}, follow_redirects=False)
    run_id = made.headers["location"].rsplit("/", 1)[1]
    assert finish(scheduler, run_id).output == 5
    page = client.get(f"/ui/runs/{run_id}").text
    assert 'id="clear-form"' in page and 'id="gantt"' in page and 'id="run-version"' in page
    assert client.post(f"/ui/runs/{run_id}/clear", data={"step": "double", "downstream": "1"}).status_code == 200
    record = finish(scheduler, run_id)
    view = default_runtime().view(run_id)
    assert record.status == "SUCCEEDED" and [s.attempts for s in view.steps] == [2, 2]
    assert client.post(f"/ui/runs/{run_id}/mark", data={"step": "add_one", "status": "FAILED"}).status_code == 200
    assert finish(scheduler, run_id).status == "FAILED"
    page = client.get(f"/ui/runs/{run_id}").text
    assert page.count('class="bar"') == 4 and "StepMarked" in page and "marked failed by test-admin" in page
    refused = client.post(f"/ui/runs/{run_id}/clear", data={"step": "nope"}, follow_redirects=False)
    assert refused.status_code == 409 and "has no step" in refused.text


def test_an_unknown_run_is_an_html_404_page_and_the_api_keeps_json(served) -> None:
    _, client = served
    page = client.get("/ui/runs/nosuchrun")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "no run" in page.text and "<h1>Not found</h1>" in page.text
    api = client.get("/api/runs/nosuchrun")
    assert api.status_code == 404 and api.json()["detail"].startswith("no run")
    cancel = client.post("/api/runs/nosuchrun/cancel")
    assert cancel.status_code == 404 and cancel.json()["detail"].startswith("no run")
