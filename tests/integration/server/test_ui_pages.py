"""The web UI's pages, partials and actions through FastAPI's TestClient (no browser)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_token

from lockgate import _json
from lockgate.dag.loader import load_file
from lockgate.runtime import default_runtime

P = load_file(Path(__file__).with_name("ui_pipelines.py"))
# Starlette's TestClient prefers the httpx2 package, which is not installed here.
pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")


@pytest.fixture
def client(home: Path, admin_headers: dict[str, str]) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from lockgate.server.app import create_app

    with TestClient(create_app(default_runtime()), base_url="http://127.0.0.1", headers=admin_headers) as client:
        yield client


def run(pipeline: Any, **params: Any) -> Any:
    bound = pipeline.bind(params)
    return default_runtime().execute(pipeline.compile(bound), _json.loads(_json.dumps(bound)), executor="threads")


def test_the_runs_page_lists_runs_newest_first_and_filters_them(client: Any) -> None:
    first = run(P.ui_diamond)
    second = run(P.ui_boom)
    page = client.get("/")
    assert page.status_code == 200
    assert page.text.index(second.run_id) < page.text.index(first.run_id)
    assert 'hx-trigger="every 1500ms"' in page.text
    failed = client.get("/ui/runs", params={"status": "FAILED"}).text
    assert second.run_id in failed and first.run_id not in failed
    rows = client.get("/ui/runs/rows", params={"pipeline": "ui_diamond"}).text
    assert first.run_id in rows and second.run_id not in rows and "<html" not in rows
    assert client.get("/ui/runs", params={"status": "BORED"}).status_code == 400
    one = client.get("/ui/runs/rows", params={"limit": 1}).text
    assert (
        one.count("<tr data-run=") == 1 and f'id="page-older" href="/ui/runs?limit=1&amp;before={second.run_id}"' in one
    )
    older = client.get("/ui/runs/rows", params={"limit": 1, "before": second.run_id}).text
    assert first.run_id in older and 'id="page-newer"' in older


def test_user_text_is_escaped_and_pages_carry_a_strict_csp(client: Any) -> None:
    result = run(P.ui_boom)
    page = client.get(f"/ui/runs/{result.run_id}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>" not in page.text.split("<main>")[1]
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_templates_have_no_inline_scripts_styles_or_event_handlers() -> None:
    import re

    from lockgate.server.ui import HERE

    for template in (HERE / "templates").glob("*.html"):
        text = template.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert not re.search(r"\sstyle\s*=|<style", text), template
        assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", text)), template


def test_a_run_page_shows_steps_history_and_the_actions_it_allows(client: Any) -> None:
    failed = run(P.ui_boom)
    page = client.get(f"/ui/runs/{failed.run_id}").text
    assert 'id="retry"' in page and 'id="cancel"' not in page
    assert "StepFailed" in page and "ValueError" in page
    assert f"/ui/runs/{failed.run_id}/logs/explode" in page
    assert "hx-trigger" not in page.split('id="live"')[1].split(">")[0]  # a finished run does not poll
    done = run(P.ui_diamond)
    page = client.get(f"/ui/runs/{done.run_id}").text
    assert 'id="retry"' not in page and "square[2]" in page
    assert client.get("/ui/runs/nope").status_code == 404


def test_the_graph_of_a_python_run_has_its_steps_edges_and_map_counts(client: Any) -> None:
    result = run(P.ui_diamond)
    graph = client.get(f"/api/runs/{result.run_id}/graph").json()
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert set(nodes) == {"numbers", "left", "right", "square", "join"}
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        ("numbers", "left"), ("numbers", "right"), ("numbers", "square"),
        ("left", "join"), ("right", "join"), ("square", "join"),
    }  # fmt: skip
    assert nodes["square"]["counts"] == {"SUCCEEDED": 3} and nodes["left"]["counts"] is None
    assert {n["status"] for n in graph["nodes"]} == {"SUCCEEDED"} and graph["status"] == "SUCCEEDED"
    assert client.get("/api/runs/nope/graph").status_code == 404


def test_step_logs_show_the_traceback_and_refuse_unknown_steps(client: Any) -> None:
    result = run(P.ui_boom, label="x")
    page = client.get(f"/ui/runs/{result.run_id}/logs/explode").text
    assert "Traceback (most recent call last)" in page and "about to fail for x" in page
    assert "ValueError: bad &lt;b&gt;x&lt;/b&gt;" in page
    entries = client.get(f"/api/runs/{result.run_id}/logs/explode").json()
    assert [(e["step"], e["attempt"], e["exists"]) for e in entries] == [("explode", 1, True)]
    assert client.get(f"/ui/runs/{result.run_id}/logs/..%2F..%2Fsecrets").status_code == 404
    assert client.get(f"/api/runs/{result.run_id}/logs/nothing").status_code == 404
    mapped = run(P.ui_diamond)
    steps = [e["step"] for e in client.get(f"/api/runs/{mapped.run_id}/logs/square").json()]
    assert steps == ["square[0]", "square[1]", "square[2]"]
    assert client.get(f"/ui/runs/{mapped.run_id}/logs/square%5B1%5D").status_code == 200


def test_cancel_from_the_ui_aborts_a_queued_run(client: Any) -> None:
    run_id = default_runtime().enqueue("ui_diamond", {})
    assert client.get(f"/ui/runs/{run_id}/live").text.count('id="cancel"') == 1
    foreign = client.post(f"/ui/runs/{run_id}/cancel", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    answer = client.post(f"/ui/runs/{run_id}/cancel", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/runs/{run_id}"
    assert default_runtime().store.get_run(run_id).status == "ABORTED"
    again = client.post(f"/ui/runs/{run_id}/cancel", headers={"HX-Request": "true"})
    assert again.status_code == 200 and "has already finished" in again.text
    assert client.post(f"/ui/runs/{run_id}/cancel").status_code == 409
    assert client.post(f"/ui/runs/{run_id}/explode").status_code == 404


def test_retry_from_the_ui_reruns_the_failed_steps(client: Any, tmp_path: Path, monkeypatch: Any) -> None:
    flag = tmp_path / "flag"
    monkeypatch.setenv("UI_FLAG", str(flag))
    failed = run(P.ui_flag)
    assert failed.status == "FAILED"
    flag.write_text("up")
    answer = client.post(f"/ui/runs/{failed.run_id}/retry", headers={"HX-Request": "true"})
    assert answer.status_code == 200 and answer.headers["hx-redirect"] == f"/ui/runs/{failed.run_id}"
    deadline = time.monotonic() + 20
    while default_runtime().store.get_run(failed.run_id).status != "SUCCEEDED":
        assert time.monotonic() < deadline, "the retried run did not succeed"
        time.sleep(0.05)
    refused = client.post(f"/api/runs/{failed.run_id}/retry")
    assert refused.status_code == 409 and "SUCCEEDED" in refused.json()["detail"]
    assert client.post("/api/runs/nope/resume").status_code == 404
    assert client.post(f"/api/runs/{failed.run_id}/resume").status_code == 409


def test_resume_from_the_ui_continues_a_run_whose_process_died(client: Any, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    target = f"{Path(__file__).with_name('ui_pipelines.py')}:ui_gate"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "run", target, "--param", f"folder={tmp_path}", "--json"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while not (tmp_path / "started").exists():
        assert time.monotonic() < deadline and proc.poll() is None, "the step never started"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    (record,) = default_runtime().store.list_runs(pipeline="ui_gate")
    assert record.status == "RUNNING"
    orphaned = client.get(f"/ui/runs/{record.run_id}").text
    assert 'id="resume"' in orphaned and 'id="orphaned"' in orphaned  # its owner is dead, and it says so
    (tmp_path / "go").write_text("go")
    answer = client.post(f"/ui/runs/{record.run_id}/resume", follow_redirects=False)
    assert answer.status_code == 303
    while default_runtime().store.get_run(record.run_id).status != "SUCCEEDED":
        assert time.monotonic() < deadline, "the resumed run did not succeed"
        time.sleep(0.05)
    page = client.get(f"/ui/runs/{record.run_id}").text
    assert "RunResumed" in page and "StepInterrupted" in page and 'id="resume"' not in page
    assert 'id="orphaned"' not in page


def test_pipelines_page_pauses_and_draws_dependencies(client: Any) -> None:
    run(P.ui_boom)
    page = client.get("/ui/pipelines").text
    assert 'data-pipeline="ui_boom"' in page and "FAILED" in page
    assert client.post("/ui/pipelines/ui_boom/pause", follow_redirects=False).status_code == 303
    row = client.get("/ui/pipelines").text.split('data-pipeline="ui_boom"')[1].split("</tr>")[0]
    assert '<td class="paused">yes</td>' in row and ">Unpause<" in row
    assert client.get("/api/pipelines").json()  # the triggers API sees the same state
    assert [p["paused"] for p in client.get("/api/pipelines").json() if p["name"] == "ui_boom"] == [True]
    assert client.post("/ui/pipelines/ui_boom/unpause", follow_redirects=False).status_code == 303
    assert client.post("/ui/pipelines/no_such_pipeline/pause").status_code == 409
    assert client.post("/ui/pipelines/ui_boom/delete").status_code == 404


def test_catalog_and_notification_pages_read_their_stores(client: Any) -> None:
    from lockgate.catalog.store import Catalog, Partition

    catalog = Catalog(default_runtime().store.engine)
    catalog.register(
        "lake", "events", location="file:///data/events", format="parquet", partition_keys=["day"],
        columns=[{"name": "id", "type": "int64"}, {"name": "note<x>", "type": "string"}],
        partitions=[Partition({"day": "2026-11-24"}, "file:///data/events/day=2026-11-24", 2, 10)],
    )  # fmt: skip
    listing = client.get("/ui/catalog").text
    assert "lake.events" in listing and "/ui/catalog/lake/events" in listing
    table = client.get("/ui/catalog/lake/events").text
    assert "note&lt;x&gt;" in table and "2026-11-24" in table and "int64" in table
    assert client.get("/ui/catalog/lake/missing").status_code == 404
    assert client.post("/api/topics", json={"name": "ops"}).status_code == 201
    notes = client.get("/ui/notifications").text
    assert "ops" in notes and "No alarms are configured" in notes


def test_static_files_are_served_from_the_package(client: Any) -> None:
    for path in ("vendor/htmx-2.0.11.min.js", "vendor/cytoscape-3.34.4.min.js", "vendor/cytoscape-dagre-4.0.1.min.js",
                 "ui.js"):  # fmt: skip
        answer = client.get(f"/ui/static/{path}")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/../app.py").status_code == 404
    assert client.get("/ui/static/nope.js").status_code == 404
    page = client.get("/ui/pipelines").text
    assert "http://" not in page.split("</head>")[0] and "https://" not in page.split("</head>")[0]


def test_a_run_page_lists_the_first_elements_of_a_large_map_and_counts_the_rest(client: Any) -> None:
    from lockgate.server import ui_views

    result = run(P.ui_wide, count=ui_views.MAX_ELEMENTS + 7)
    page = client.get(f"/ui/runs/{result.run_id}").text
    assert f'data-step="square[{ui_views.MAX_ELEMENTS - 1}]"' in page
    assert f'data-step="square[{ui_views.MAX_ELEMENTS}]"' not in page
    assert "and 7 more elements of square" in page
    assert page.index("7 more elements") < page.index('data-step="total"')


def test_the_notifications_page_names_a_broken_alarm_table(home: Path) -> None:
    from fastapi.testclient import TestClient

    from lockgate.server.app import create_app

    Path("lockgate.toml").write_text('[[alarms]]\nname = "slow"\nkind = "no-such-kind"\n')
    admin_headers = {"Authorization": f"Bearer {make_token().secret}"}
    with TestClient(create_app(default_runtime()), base_url="http://127.0.0.1", headers=admin_headers) as client:
        page = client.get("/ui/notifications")
    assert page.status_code == 200 and "lockgate.toml: alarm &#39;slow&#39;: kind" in page.text
