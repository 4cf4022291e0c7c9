"""`lockgate serve` runs the notification machinery and reports scheduler metrics, seen from outside."""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port, wait_for_port, wait_until

FLOWS = """
from pathlib import Path
from lockgate import pipeline, task
from lockgate.triggers import FileArrival

LANDING = Path(__file__).resolve().parent.parent / "landing"

@task
def explode(reason: str) -> None:
    raise ValueError(reason)

@pipeline(on_failure=["ops"])
def breaks(reason: str = "bad batch"):
    return explode(reason)

@task
def size_of(event: dict) -> int:
    return event["size"]

@pipeline(triggers=[FileArrival(str(LANDING), pattern="*.csv")])
def ingest(event: dict):
    return size_of(event)
"""

SETTINGS = """
[notify]
sender = "thread"
retry_interval_seconds = 0.3
retry_backoff_rate = 1.0
deliver_every_seconds = 0.2
alarm_every_seconds = 0.2
timeout_seconds = 2.0

[[alarms]]
name = "breaks-failing"
kind = "failures"
pipeline = "breaks"
count = 1
window = "10m"
topic = "ops"
"""


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


class Hook:
    """A webhook receiver on a port chosen before it starts listening."""

    def __init__(self, port: int) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handle(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handle)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def kinds(self) -> list[str]:
        return [b.get("data", {}).get("kind") for b in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service(tmp_path: Path):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "landing").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(FLOWS)
    (tmp_path / "lockgate.toml").write_text(SETTINGS)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lockgate", "serve", "--pipelines", "pipelines", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not wait_for_port(port, 30):
            proc.kill()
            raise AssertionError(f"serve did not listen: {proc.communicate()[1][-2000:]}")
        yield port, proc
    finally:
        proc.kill()
        proc.communicate(timeout=10)


@pytest.mark.slow
def test_serve_retries_a_failed_webhook_until_it_is_up_and_fires_an_alarm(service, tmp_path: Path) -> None:
    _, proc = service
    hook_port = free_port()
    assert lockgate("topics", "create", "ops").returncode == 0
    subscribed = lockgate("topics", "subscribe", "ops", f"webhook:http://127.0.0.1:{hook_port}/hook", "--secret", "s")
    assert subscribed.returncode == 0, subscribed.stderr
    queued = lockgate("trigger", "breaks", "--pipelines", "pipelines", "--json")
    run_id = json.loads(queued.stdout)["run_id"]

    def status() -> str:
        return json.loads(lockgate("show", run_id, "--json").stdout)["status"]

    wait_until(lambda: status() == "FAILED")

    def attempts() -> list[dict]:
        listed = lockgate("notifications", "--json")
        assert listed.returncode == 0, listed.stderr
        return [d for d in json.loads(listed.stdout) if d.get("attempts", 0) >= 2]

    wait_until(attempts)  # nothing listens yet: the service keeps retrying
    hook = Hook(hook_port)
    try:
        wait_until(lambda: {"run_failed", "alarm"} <= set(hook.kinds()))
    finally:
        hook.close()
    failed = next(b for b in hook.bodies if b["data"]["kind"] == "run_failed")
    assert failed["data"]["run_id"] == run_id and failed["data"]["error"]["name"] == "ValueError"
    alarm = next(b for b in hook.bodies if b["data"]["kind"] == "alarm")
    assert (alarm["data"]["alarm"], alarm["data"]["state"]) == ("breaks-failing", "ALARM")
    listed = json.loads(lockgate("alarms", "list", "--json").stdout)
    assert [(a["name"], a["state"]) for a in listed] == [("breaks-failing", "ALARM")]
    assert proc.poll() is None


def _sample(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else None


@pytest.mark.slow
def test_metrics_of_serve_show_trigger_latency_tick_lag_and_queue_depth(service, tmp_path: Path) -> None:
    port, _ = service
    (tmp_path / "landing" / "orders.csv").write_text("id\n1\n")

    def succeeded() -> bool:
        listed = json.loads(lockgate("runs", "--json", "--pipeline", "ingest").stdout)
        return bool(listed) and listed[0]["status"] == "SUCCEEDED"

    wait_until(succeeded)
    token = (Path(os.environ["LOCKGATE_HOME"]) / "admin.token").read_text().strip()  # made by serve on a fresh home
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10).text
    assert _sample(text, 'lockgate_trigger_latency_seconds_count{trigger="file"}') == 1.0
    latency = _sample(text, 'lockgate_trigger_latency_seconds_sum{trigger="file"}')
    assert latency is not None and 0.0 <= latency < 10.0
    lag = _sample(text, "lockgate_scheduler_tick_lag_seconds")
    assert lag is not None and 0.0 <= lag < 5.0
    assert _sample(text, "lockgate_queue_depth") == 0.0
    assert _sample(text, 'lockgate_runs_finished_total{pipeline="ingest",status="SUCCEEDED"}') == 1.0
