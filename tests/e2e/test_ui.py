"""The web UI in a real Chromium (Playwright) against `lockgate serve` started as its users start it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import free_port, need, wait_for_port, wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--disable-sync"]  # fmt: skip
PIPELINES = """
import datetime as dt
import enum
import time
from pathlib import Path
from typing import Literal

from lockgate import group, pipeline, task

HERE = Path(__file__).resolve().parent.parent


def wait_for(name: str) -> None:
    while not (HERE / name).exists():
        time.sleep(0.02)


@task
def prepare() -> list:
    return [2, 4]


@task
def half(x: int) -> int:
    return x // 2


@task
def hold(halves: list, gate: str) -> int:
    wait_for(gate)
    return sum(halves)


@task
def report(total: int, values: list) -> str:
    return f"{total} of {len(values)}"


@pipeline
def gated(gate: str):
    values = prepare()
    return report(hold(half.map(values), gate), values)


@task
def fail_loudly() -> None:
    print("checking the input")
    raise ValueError("the input is <b>bad</b>")


@pipeline
def broken():
    return fail_loudly()


@task
def forever() -> int:
    wait_for("release")
    return 1


@pipeline
def stuck():
    return forever()


@task
def triple(n: int) -> int:
    return n * 3


@task
def label_it(value: int, label: str) -> str:
    return f"{label}={value}"


@pipeline
def typed(n: int, label: str = "x"):
    return label_it(triple(n), label)


class Size(enum.Enum):
    SMALL = "small"
    LARGE = "large"


@task
def describe(flag: bool, count: int, ratio: float, day: str, at: str, size: str, mode: str, tags: list,
             options: dict, note: str) -> dict:
    return {"flag": flag, "count": count, "ratio": ratio, "day": day, "at": at, "size": size, "mode": mode,
            "tags": tags, "options": options, "note": note}


@pipeline
def form_demo(count: int, day: dt.date, at: dt.datetime, size: Size, mode: Literal["fast", "slow"], tags: list,
              flag: bool = True, ratio: float = 0.5, options: dict = {"a": 1}, note: str = "hi"):
    return describe(flag, count, ratio, day, at, size, mode, tags, options, note)


@pipeline
def grouped():
    with group("extract"):
        a, b = prepare(), prepare.options(name="prepare_more")()
    return report(triple(len_of(a)), b)


@task
def len_of(values: list) -> int:
    return len(values)


@pipeline(name="<script>alert(1)</script>")
def hostile_name():
    return prepare()
"""
ROUTER = {
    "StartAt": "Route",
    "States": {
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
            "Default": "Small",
        },
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "End": True},
    },
}
AUTH: dict[str, str] = {}  # the Authorization header of the admin token the server made


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`lockgate serve` on a free port, in a folder and LOCKGATE_HOME of its own."""
    folder = tmp_path_factory.mktemp("ui")
    (folder / "pipelines").mkdir()
    (folder / "pipelines" / "ui_e2e.py").write_text(PIPELINES)
    (folder / "pipelines" / "lockgate.toml").write_text('[asl.state_machines.router]\ndefinition = "router.asl.json"\n')
    (folder / "pipelines" / "router.asl.json").write_text(json.dumps(ROUTER))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOCKGATE_")}
    env["LOCKGATE_HOME"] = str(folder / ".lockgate")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(port)],
        cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        if not wait_for_port(port, timeout=30):
            proc.kill()
            raise AssertionError(f"lockgate serve did not listen: {proc.communicate()[1]}")
        AUTH["Authorization"] = "Bearer " + (folder / ".lockgate" / "admin.token").read_text().strip()
        yield f"http://127.0.0.1:{port}", folder
    finally:
        (folder / "release").write_text("go")  # let steps still waiting end
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        need(f"{CHROMIUM} is missing: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("the playwright package is missing: pip install -e '.[dev]'")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def fresh_page(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page, not logged in, and the script errors and console errors it had."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    yield page, problems
    context.close()


def log_in(page: Any, base: str, path: str = "/") -> None:
    page.goto(f"{base}{path}")
    page.wait_for_url("**/ui/login?next=*")
    page.fill("#token", AUTH["Authorization"].removeprefix("Bearer "))
    page.click("#login")
    page.wait_for_url(f"{base}{path}")


@pytest.fixture
def page(server: tuple[str, Path], fresh_page: tuple[Any, list[str]]) -> Iterator[Any]:
    """A logged-in page that fails the test on a script error or a Content-Security-Policy violation."""
    page, problems = fresh_page
    log_in(page, server[0])
    yield page
    refusals = ("Failed to load resource: the server responded with a status of 401",
                "Failed to load resource: the server responded with a status of 403", "Refused to display")  # fmt: skip
    assert [p for p in problems if not p.startswith(refusals)] == []  # refusals some tests provoke


def trigger(base: str, pipeline: str, **params: Any) -> str:
    answer = httpx.post(f"{base}/api/pipelines/{pipeline}/trigger", json={"params": params}, headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["run_id"])


def node_status(page: Any, node: str) -> str:
    return str(page.evaluate("id => window.lockgateGraph.getElementById(id).data('status')", node))


def wait_node(page: Any, node: str, status: str) -> None:
    page.wait_for_function(
        "([id, status]) => window.lockgateGraph && window.lockgateGraph.getElementById(id).data('status') === status",
        arg=[node, status],
    )


def test_the_runs_page_lists_a_run_and_follows_its_status(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, folder = server
    run_id = trigger(base, "gated", gate="gate-list")
    page.goto(f"{base}/")
    row = page.locator(f'tr[data-run="{run_id}"]')
    expect(row).to_contain_text("gated")
    expect(row.locator(".status")).to_have_text("RUNNING")
    page.evaluate("window.stillHere = true")
    (folder / "gate-list").write_text("open")
    expect(row.locator(".status")).to_have_text("SUCCEEDED")
    assert page.evaluate("window.stillHere") is True  # updated in place, not reloaded
    row.locator("a.mono").click()
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")


def test_a_running_step_turns_succeeded_in_the_graph_without_reloading(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, folder = server
    run_id = trigger(base, "gated", gate="gate-graph")
    page.goto(f"{base}/ui/runs/{run_id}")
    wait_node(page, "hold", "RUNNING")
    assert node_status(page, "report") == "PENDING"
    page.evaluate("window.stillHere = true")
    (folder / "gate-graph").write_text("open")
    wait_node(page, "hold", "SUCCEEDED")
    wait_node(page, "report", "SUCCEEDED")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    expect(page.locator('#steps tr[data-step="hold"] .status')).to_have_text("SUCCEEDED")
    assert page.evaluate("window.stillHere") is True


def test_the_graph_has_the_steps_and_their_dependencies(server: tuple[str, Path], page: Any) -> None:
    base, folder = server
    (folder / "gate-shape").write_text("open")
    run_id = trigger(base, "gated", gate="gate-shape")
    page.goto(f"{base}/ui/runs/{run_id}")
    wait_node(page, "report", "SUCCEEDED")
    nodes = page.evaluate("window.lockgateGraph.nodes().map(n => [n.id(), n.data('status'), n.data('label')])")
    edges = page.evaluate("window.lockgateGraph.edges().map(e => [e.source().id(), e.target().id()])")
    assert sorted(n[0] for n in nodes) == ["half", "hold", "prepare", "report"]
    expected = {("prepare", "half"), ("half", "hold"), ("hold", "report"), ("prepare", "report")}
    assert {tuple(e) for e in edges} == expected
    labels = {n[0]: n[2] for n in nodes}
    assert labels["half"] == "half\nsucceeded 2" and labels["prepare"] == "prepare"
    positions = page.evaluate("window.lockgateGraph.nodes().map(n => [n.id(), n.position('x')])")
    x = dict(positions)
    assert x["prepare"] < x["half"] < x["hold"] < x["report"]  # laid out left to right by dagre


def test_a_failed_steps_log_shows_its_traceback(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    run_id = trigger(base, "broken")
    page.goto(f"{base}/ui/runs/{run_id}")
    wait_node(page, "fail_loudly", "FAILED")
    expect(page.locator("#run-status")).to_have_text("FAILED")
    expect(page.locator("#retry")).to_be_visible()
    # a click on the graph's node opens the step's log
    box = page.locator("#graph").bounding_box()
    point = page.evaluate("window.lockgateGraph.getElementById('fail_loudly').renderedPosition()")
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    page.wait_for_url(f"**/ui/runs/{run_id}/logs/fail_loudly")
    log = page.locator("pre.logtext")
    expect(log).to_contain_text("checking the input")
    expect(log).to_contain_text("Traceback (most recent call last)")
    expect(log).to_contain_text("ValueError: the input is <b>bad</b>")  # shown as text, not markup
    assert page.locator("pre.logtext b").count() == 0


def test_cancel_from_the_ui_aborts_a_running_run(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    run_id = trigger(base, "stuck")
    page.goto(f"{base}/ui/runs/{run_id}")
    wait_node(page, "forever", "RUNNING")
    page.locator("#cancel").click()
    expect(page.locator("#run-status")).to_have_text("ABORTED")
    shown = httpx.get(f"{base}/api/runs/{run_id}", headers=AUTH, timeout=10).json()
    assert shown["status"] == "ABORTED" and shown["history"][-1]["by"] == "admin"
    expect(page.locator("#cancel")).to_have_count(0)
    expect(page.locator("#retry")).to_be_visible()


def test_the_trigger_button_opens_the_form_that_queues_a_run(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    page.goto(f"{base}/ui/pipelines")
    page.locator('tr[data-pipeline="typed"] a.trigger').click()
    page.wait_for_url("**/ui/pipelines/typed/trigger")
    expect(page.locator("#param-n")).to_have_attribute("type", "number")
    page.fill("#param-n", "7")
    page.fill("#param-label", "total")
    page.locator("#trigger-submit").click()
    page.wait_for_url("**/ui/runs/*")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    run_id = page.url.rsplit("/", 1)[1]
    assert httpx.get(f"{base}/api/runs/{run_id}", headers=AUTH, timeout=10).json()["output"] == "total=21"


def test_the_trigger_form_has_a_widget_per_type_and_shows_refusals_beside_their_fields(
    server: tuple[str, Path], page: Any
) -> None:
    from playwright.sync_api import expect

    base, _ = server
    page.goto(f"{base}/ui/pipelines/form_demo/trigger")
    widgets = {"flag": "checkbox", "count": "number", "ratio": "number", "day": "date", "at": "datetime-local",
               "note": "text"}  # fmt: skip
    for name, kind in widgets.items():
        expect(page.locator(f"#param-{name}")).to_have_attribute("type", kind)
    expect(page.locator("#param-flag")).to_be_checked()
    expect(page.locator("#param-ratio")).to_have_value("0.5")
    expect(page.locator("#param-note")).to_have_value("hi")
    expect(page.locator("#param-options")).to_have_value('{"a": 1}')
    assert page.locator("#param-size option").all_inner_texts() == ["choose one", "SMALL", "LARGE"]
    assert page.locator("#param-mode option").all_inner_texts() == ["choose one", "fast", "slow"]
    required = page.locator(".field:has(.required)").evaluate_all("els => els.map(e => e.dataset.param)")
    assert required == ["count", "day", "at", "size", "mode", "tags"]

    page.fill("#param-count", "3")
    page.fill("#param-day", "2026-11-30")
    page.fill("#param-at", "2026-11-30T10:15:00")
    page.select_option("#param-size", "large")
    page.select_option("#param-mode", "slow")
    page.fill("#param-tags", "[1, 2")  # not JSON: the box says so and the form is not sent
    assert page.eval_on_selector("#param-tags", "box => box.validity.valid") is False
    page.fill("#param-tags", '{"not": "a list"}')  # JSON, but the server refuses it for a list
    page.locator("#trigger-submit").click()
    expect(page.locator("#error-tags")).to_contain_text("is not a valid list")
    expect(page.locator("#param-count")).to_have_value("3")  # what was typed stays
    expect(page.locator(".field-error")).to_have_count(1)
    page.fill("#param-tags", '["a", "b"]')
    page.uncheck("#param-flag")
    page.locator("#trigger-submit").click()
    page.wait_for_url("**/ui/runs/*")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    run_id = page.url.rsplit("/", 1)[1]
    output = httpx.get(f"{base}/api/runs/{run_id}", headers=AUTH, timeout=10).json()["output"]
    assert output == {
        "flag": False,
        "count": 3,
        "ratio": 0.5,
        "day": "2026-11-30",
        "at": "2026-11-30T10:15:00",
        "size": "large",
        "mode": "slow",
        "tags": ["a", "b"],
        "options": {"a": 1},
        "note": "hi",
    }


def test_a_refused_trigger_form_is_an_html_page_naming_the_field(server: tuple[str, Path]) -> None:
    base, _ = server
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post("/ui/login", data={"token": AUTH["Authorization"].removeprefix("Bearer "), "next": "/"})
        assert login.status_code in (200, 303)
        form = client.get("/ui/pipelines/typed/trigger").text
        csrf = form.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/ui/pipelines/typed/trigger", data={"csrf_token": csrf, "n": "many"})
        machine = client.post("/ui/pipelines/router/trigger", data={"csrf_token": csrf, "input": '{"n": 1'})
    assert answer.status_code == 400 and answer.headers["content-type"].startswith("text/html")
    assert 'id="error-n"' in answer.text and "&#39;many&#39; is not a valid int" in answer.text
    assert machine.status_code == 400 and 'id="error-input"' in machine.text and "not JSON" in machine.text
    assert "{&#34;n&#34;: 1</textarea>" in machine.text  # what was typed stays


def test_the_runs_list_pages_newest_first_keeping_its_filters(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    from lockgate.store.base import NewRun
    from lockgate.store.sql import SqlStore, sqlite_url

    base, folder = server
    store = SqlStore(sqlite_url(folder / ".lockgate"))
    made = [NewRun(f"archive-{i:04d}", "archive", "python", {}, 1_700_000_000.0 + i,
                   status="FAILED" if i % 2 else "SUCCEEDED") for i in range(120)]  # fmt: skip
    assert all(store.create_runs(made))
    store.close()
    failed = [r.run_id for r in reversed(made) if r.status == "FAILED"]  # newest first: 60 of them

    def shown() -> list[str]:
        return page.locator("#runs-rows tr[data-run]").evaluate_all("rows => rows.map(r => r.dataset.run)")

    page.goto(f"{base}/ui/runs?pipeline=archive&status=FAILED")
    expect(page.locator("#runs-rows tr[data-run]")).to_have_count(50)
    assert shown() == failed[:50]
    expect(page.locator("#page-newer")).to_have_count(0)
    page.locator("#page-older").click()
    page.wait_for_url("**before=*")
    expect(page.locator("#runs-rows tr[data-run]")).to_have_count(10)
    assert shown() == failed[50:]
    assert "pipeline=archive" in page.url and "status=FAILED" in page.url
    expect(page.locator("#page-older")).to_have_count(0)
    page.wait_for_timeout(1800)  # a poll of the rows keeps the page it is on
    assert shown() == failed[50:]
    page.locator("#page-newer").click()
    page.wait_for_url("**after=*")
    expect(page.locator("#runs-rows tr[data-run]")).to_have_count(50)
    assert shown() == failed[:50]
    expect(page.locator("#page-newer")).to_have_count(0)

    page.goto(f"{base}/ui/runs?pipeline=archive&limit=25")
    seen = shown()
    while page.locator("#page-older").count():
        page.locator("#page-older").click()
        page.wait_for_function("first => document.querySelector('#runs-rows tr[data-run]').dataset.run !== first",
                               arg=seen[-25])  # fmt: skip
        seen += shown()
    assert seen == [r.run_id for r in reversed(made)]  # every run once, in order, on 5 pages


def test_a_task_group_is_a_box_around_its_steps_that_collapses_and_expands(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    run_id = trigger(base, "grouped")
    page.goto(f"{base}/ui/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    page.wait_for_function(
        "() => window.lockgateGraph && window.lockgateGraph.getElementById('group:extract').nonempty()"
    )
    children = page.evaluate("() => window.lockgateGraph.getElementById('group:extract').children().map(n => n.id())")
    assert sorted(children) == ["extract.prepare", "extract.prepare_more"]
    assert node_status(page, "group:extract") == "SUCCEEDED"

    def click_group_border() -> None:  # inside the group's box, beside its steps
        box = page.evaluate("""() => {
            const g = window.lockgateGraph.getElementById('group:extract').renderedBoundingBox({includeLabels: false});
            const c = document.getElementById('graph').getBoundingClientRect();
            return {x: c.left + g.x1 + 4, y: c.top + g.y1 + 4};
        }""")
        page.mouse.click(box["x"], box["y"])

    click_group_border()
    page.wait_for_function("() => window.lockgateGraph.getElementById('group:extract').data('collapsed') === true")
    assert page.evaluate("() => window.lockgateGraph.getElementById('extract.prepare').empty()")
    edges = page.evaluate("() => window.lockgateGraph.edges().map(e => [e.source().id(), e.target().id()])")
    assert ["group:extract", "len_of"] in edges and ["group:extract", "report"] in edges
    label = page.evaluate("() => window.lockgateGraph.getElementById('group:extract').data('label')")
    assert label == "extract\n2 steps ▸"
    page.mouse.click(*_center(page, "group:extract"))
    page.wait_for_function("() => window.lockgateGraph.getElementById('group:extract').data('collapsed') === false")
    assert page.evaluate("() => window.lockgateGraph.getElementById('group:extract').children().length") == 2
    assert ["extract.prepare", "len_of"] in page.evaluate(
        "() => window.lockgateGraph.edges().map(e => [e.source().id(), e.target().id()])"
    )


def _center(page: Any, node: str) -> tuple[float, float]:
    spot = page.evaluate(
        """id => {
            const p = window.lockgateGraph.getElementById(id).renderedPosition();
            const c = document.getElementById('graph').getBoundingClientRect();
            return [c.left + p.x, c.top + p.y];
        }""",
        node,
    )
    return spot[0], spot[1]


def test_choice_edges_carry_their_condition(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    page.goto(f"{base}/ui/pipelines/router/trigger")
    page.fill("#input", "[1, 2")
    assert page.eval_on_selector("#input", "box => box.validationMessage").startswith("not JSON")
    page.fill("#input", "[1, 2]")
    assert page.eval_on_selector("#input", "box => box.validationMessage") == "expected a JSON object ({...})"
    page.fill("#input", '{"n": 30}')
    page.locator("#trigger-submit").click()
    page.wait_for_url("**/ui/runs/*")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    page.wait_for_function("() => window.lockgateGraph && window.lockgateGraph.edges().length === 2")
    labels = page.evaluate(
        "() => Object.fromEntries(window.lockgateGraph.edges().map(e => [e.target().id(), e.data('label')]))"
    )
    assert labels == {"Big": "$.n > 10", "Small": "default"}
    assert node_status(page, "Big") == "SUCCEEDED" and node_status(page, "Small") == "SKIPPED"
    shown = page.evaluate("() => window.lockgateGraph.edges().map(e => e.style('label'))")
    assert sorted(shown) == ["$.n > 10", "default"]  # drawn, not only in the data


def test_clear_and_mark_from_the_run_page(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    run_id = trigger(base, "typed", n=2)
    page.goto(f"{base}/ui/runs/{run_id}")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    expect(page.locator("#gantt .bar")).to_have_count(2)
    page.select_option("#clear-step", "triple")
    page.check("#clear-downstream")
    page.locator("#clear").click()
    expect(page.locator('#steps tr[data-step="label_it"] td:nth-child(3)')).to_have_text("2")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    expect(page.locator("#gantt .bar")).to_have_count(4)
    page.select_option("#mark-step", "label_it")
    page.select_option("#mark-status", "FAILED")
    page.locator("#mark").click()
    expect(page.locator("#run-status")).to_have_text("FAILED")
    shown = httpx.get(f"{base}/api/runs/{run_id}", headers=AUTH, timeout=10).json()
    assert "marked failed by admin" in shown["cause"]
    assert [e["type"] for e in shown["history"]].count("StepMarked") == 1


def test_clear_from_the_run_page_while_the_run_runs(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, folder = server
    run_id = trigger(base, "gated", gate="gate-live-clear")
    page.goto(f"{base}/ui/runs/{run_id}")
    wait_node(page, "hold", "RUNNING")
    expect(page.locator("#reruns")).to_be_visible()
    page.select_option("#clear-step", "prepare")
    page.check("#clear-downstream")
    page.wait_for_timeout(1500)  # a poll of the page keeps what was chosen
    expect(page.locator("#clear-step")).to_have_value("prepare")
    page.locator("#clear").click()

    def history() -> list[dict[str, Any]]:
        return list(httpx.get(f"{base}/api/runs/{run_id}", headers=AUTH, timeout=10).json()["history"])

    wait_until(lambda: any(e["type"] == "StepsCleared" for e in history()), timeout=30)
    wait_node(page, "hold", "RUNNING")  # its second attempt waits at the gate too
    (folder / "gate-live-clear").write_text("open")
    expect(page.locator("#run-status")).to_have_text("SUCCEEDED")
    events = history()
    (asked,) = [e for e in events if e["type"] == "RerunRequested"]
    (applied,) = [e for e in events if e["type"] == "StepsCleared"]
    assert asked["actor"] == "admin" and applied["request"] == asked["request"]
    assert applied["steps"] == ["prepare", "half", "hold", "report"]
    assert [(e["step"], e["attempt"]) for e in events if e["type"] == "StepSucceeded" and e["step"] == "hold"] == [
        ("hold", 2)
    ]
    expect(page.locator("#gantt .bar")).to_have_count(len([e for e in events if e["type"] == "StepStarted"]))


def test_log_in_then_trigger_and_cancel_with_the_buttons(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    page.goto(f"{base}/ui/pipelines")
    expect(page.locator("header .who")).to_have_text("admin")
    page.locator('tr[data-pipeline="stuck"] a.trigger').click()
    page.wait_for_url("**/ui/pipelines/stuck/trigger")
    page.locator("#trigger-submit").click()
    page.wait_for_url("**/ui/runs/*")
    wait_node(page, "forever", "RUNNING")
    run_id = page.url.rsplit("/", 1)[-1]
    page.locator("#cancel").click()
    expect(page.locator("#run-status")).to_have_text("ABORTED")
    history = httpx.get(f"{base}/api/runs/{run_id}", headers=AUTH, timeout=10).json()["history"]
    assert history[-1]["type"] == "RunAborted" and history[-1]["by"] == "admin"
    page.locator("#logout").click()
    page.wait_for_url("**/ui/login")
    page.goto(f"{base}/ui/pipelines")
    page.wait_for_url("**/ui/login?next=*")


def test_a_post_without_the_csrf_token_is_refused(server: tuple[str, Path], page: Any) -> None:
    base, _ = server
    page.goto(f"{base}/ui/pipelines")
    statuses = page.evaluate(
        """async () => {
            const plain = await fetch("/ui/pipelines/stuck/pause", {method: "POST"});
            const api = await fetch("/api/pipelines/stuck/pause", {method: "POST"});
            const token = document.querySelector("input[name=csrf_token]").value;
            const good = await fetch("/ui/pipelines/stuck/unpause", {method: "POST", headers: {"X-CSRF-Token": token}});
            return [plain.status, api.status, good.status];
        }"""
    )
    assert statuses == [403, 401, 200]
    listed = {p["name"]: p for p in httpx.get(f"{base}/api/pipelines", headers=AUTH, timeout=10).json()}
    assert listed["stuck"]["paused"] is False


def test_a_form_of_another_origin_cannot_act_for_a_logged_in_user(server: tuple[str, Path], page: Any) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    base, _ = server
    forms = "".join(
        f'<form id="f{i}" method="post" action="{base}{path}" target="t{i}"></form><iframe name="t{i}"></iframe>'
        for i, path in enumerate(["/ui/pipelines/stuck/pause", "/api/pipelines/stuck/pause"])
    )
    attack = f"<!doctype html><html><body>{forms}<script>f0.submit(); f1.submit();</script></body></html>".encode()

    class Evil(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(attack)))
            self.end_headers()
            self.wfile.write(attack)

        def log_message(self, *args: Any) -> None:
            pass

    evil = HTTPServer(("127.0.0.1", 0), Evil)  # another origin of the same site: the cookie goes along
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    answers: dict[str, int] = {}
    page.on(
        "response",
        lambda r: answers.__setitem__(r.url.removeprefix(base), r.status) if r.url.startswith(base) else None,
    )
    try:
        page.goto(f"http://127.0.0.1:{evil.server_port}/")
        page.wait_for_function("() => document.querySelectorAll('iframe').length === 2")
        page.wait_for_timeout(500)
    finally:
        evil.shutdown()
    assert answers.get("/ui/pipelines/stuck/pause") == 403  # the session cookie came, no CSRF token did
    assert answers.get("/api/pipelines/stuck/pause") == 401
    listed = {p["name"]: p for p in httpx.get(f"{base}/api/pipelines", headers=AUTH, timeout=10).json()}
    assert listed["stuck"]["paused"] is False


def test_a_pipeline_named_like_a_script_renders_as_text(server: tuple[str, Path], page: Any) -> None:
    from playwright.sync_api import expect

    base, _ = server
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}/ui/pipelines")
    cell = page.locator('tr[data-pipeline="<script>alert(1)</script>"] td').first
    expect(cell).to_have_text("<script>alert(1)</script>")
    assert page.locator("#pipelines script").count() == 0
    assert dialogs == []
