"""Hard and soft failures in one run.

    lockgate run examples/failures.py:hard_and_soft        # ends FAILED (exit code 1), on purpose

Two branches run side by side, each with a retry policy of several attempts:

- hard: a partner sends JSON lines named `feedback.csv`. validate reads the real format from
  the content and fails with lockgate.DataQuality (a DataQualityError). A data-quality problem
  cannot be fixed by trying again, so it is a hard failure: it is NOT retried (attempts: 1),
  the file and its report are copied to ./lake/quarantine/, and the run fails.
- soft: a partner endpoint on a local port is down at first (connection refused: the port is
  closed for its first 1.5 s). A refused connection is a soft failure, so the http step is
  retried (1 s, then 1.5 s later) and succeeds once the endpoint is up.

See both in the history: `lockgate show RUN_ID` (the http step has 2 or 3 attempts, the
validate step 1) and `lockgate logs RUN_ID validate`; the quarantined copy and its report
are in ./lake/quarantine/.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from lockgate import Retry, pipeline, task
from lockgate.tasks import http, validate

LANDED = "lake/landing/partner/feedback.csv"
# A tiny HTTP endpoint that only starts listening after a delay, answers one request, and exits
# (or gives up after 30 s): the "temporarily unreachable" partner API.
ENDPOINT = """
import http.server, json, sys, time
port, delay = int(sys.argv[1]), float(sys.argv[2])
time.sleep(delay)
served = []
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"feedback_accepted": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        served.append(self.path)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Handler)
server.timeout = 0.5
deadline = time.time() + 30
while not served and time.time() < deadline:
    server.handle_request()
server.server_close()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@task
def land_disguised_json() -> str:
    """A partner's 'CSV' that is really JSON lines."""
    os.makedirs(os.path.dirname(LANDED), exist_ok=True)
    rows = [{"feedback_id": i, "rating": 1 + i % 5, "comment": "sent as JSON"} for i in range(1, 21)]
    with open(LANDED, "w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return LANDED


@task
def start_endpoint_later(port: int, delay: float = 1.5) -> str:
    """Start the partner endpoint in the background; its port stays closed for `delay` seconds."""
    subprocess.Popen(
        [sys.executable, "-c", ENDPOINT, str(port), str(delay)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    return f"http://127.0.0.1:{port}/feedback"


@pipeline
def hard_and_soft(port: int = 0) -> object:
    retry = Retry(max_attempts=4, interval=1.0, backoff_rate=1.5)  # for soft failures only
    landed = land_disguised_json()
    checked = validate.options(retry=retry)(LANDED, format="csv", quarantine="lake/quarantine")
    landed >> checked
    url = start_endpoint_later(port or free_port())
    answer = http.options(retry=retry)("GET", url, timeout=5)
    return {"validated": checked, "endpoint": answer}
