"""Do 1,000 notifications slow the pipeline that caused them?

Two pipelines of 1,000 quick mapped steps, each failing once with a transient error and then
succeeding: `quiet` notifies nobody, `noisy` notifies a topic on every retry (1,000 messages)
whose webhook subscription points at a real HTTP receiver in another process on loopback.
They run alternately in one process; the figure is the median step latency (first start to
final success of each step, from the run's history) of `noisy` over that of `quiet`.

    python benchmarks/notifications.py [--steps 1000] [--rounds 3]

Prints the ratio (goal: at most 1.05) and the delivery counts.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

RECEIVER = textwrap.dedent(
    """
    import http.server, sys

    class Handle(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handle).serve_forever()
    """
)

PIPELINES = textwrap.dedent(
    """
    from lockgate import Retry, pipeline, task

    seen = set()

    @task(retry=Retry(max_attempts=1, interval=0.001))
    def blip(tag, i):
        key = (tag, i)
        if key not in seen:
            seen.add(key)
            raise ConnectionError(f"element {i}: transient")
        return i

    @pipeline
    def quiet(tag: str, n: int):
        blip.map([tag] * n, list(range(n)))

    @pipeline(on_retry=["bench"])
    def noisy(tag: str, n: int):
        blip.map([tag] * n, list(range(n)))
    """
)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def step_latencies(runtime: object, run_id: str) -> list[float]:
    from lockgate.core import history as h

    first: dict[str, float] = {}
    done: dict[str, float] = {}
    for event in runtime.store.history(run_id):  # type: ignore[attr-defined]
        if isinstance(event, h.StepStarted):
            first.setdefault(event.step, event.at)
        elif isinstance(event, h.StepSucceeded) and "[" in event.step:
            done[event.step] = event.at
    return [done[s] - first[s] for s in done]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="lockgate-bench-notify-"))
    os.chdir(work)
    os.environ["LOCKGATE_HOME"] = str(work / ".lockgate")
    (work / "bench_pipelines.py").write_text(PIPELINES)
    sys.path.insert(0, str(work))
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
    try:
        import bench_pipelines as bp

        import lockgate
        from lockgate.notify.plugin import notifier_of
        from lockgate.runtime import default_runtime

        runtime = default_runtime()
        notifier = notifier_of(runtime)
        notifier.topics.create("bench", time.time())
        notifier.topics.subscribe("bench", f"webhook:http://127.0.0.1:{port}/hook", "bench-secret", time.time())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import httpx

                httpx.post(f"http://127.0.0.1:{port}/", content=b"")
                break
            except httpx.HTTPError:
                time.sleep(0.05)

        lockgate.run(bp.quiet, tag="warmup", n=50)  # imports, the store, the thread pool
        quiet_runs, noisy_runs, walls = [], [], {"quiet": [], "noisy": []}
        for round_ in range(args.rounds):
            for name, pipe, bucket in (("quiet", bp.quiet, quiet_runs), ("noisy", bp.noisy, noisy_runs)):
                started = time.perf_counter()
                run = lockgate.run(pipe, tag=f"{name}{round_}", n=args.steps)
                walls[name].append(time.perf_counter() - started)
                assert run.status == "SUCCEEDED", run.cause
                bucket.append(run.run_id)
                flush = time.perf_counter()
                notifier.close()  # deliveries left over are sent here, outside the measured run
                if name == "noisy":
                    walls.setdefault("flush", []).append(time.perf_counter() - flush)

        quiet = statistics.median(x for r in quiet_runs for x in step_latencies(runtime, r))
        noisy = statistics.median(x for r in noisy_runs for x in step_latencies(runtime, r))
        delivered = notifier.outbox.list(limit=10**6, status="DELIVERED")
        pending = [d for d in notifier.outbox.list(limit=10**6) if d.status != "DELIVERED"]
        per_run = len(delivered) // max(1, len(noisy_runs))
        ended = {r: runtime.view(r).ended_at for r in noisy_runs}
        during = sum(1 for d in delivered if d.run_id in ended and (d.delivered_at or 0) <= (ended[d.run_id] or 0))
        print(f"steps per run: {args.steps}, rounds: {args.rounds}")
        print(f"notifications per noisy run: {per_run} delivered ({len(pending)} not delivered)")
        print(f"  delivered while their run was still running: {during * 100 // max(1, len(delivered))}%")
        for error in sorted({d.last_error or d.status for d in pending})[:5]:
            print(f"  not delivered: {error}")
        print(f"median step latency  quiet: {quiet * 1000:.2f} ms  noisy: {noisy * 1000:.2f} ms")
        print(
            f"median run wall time quiet: {statistics.median(walls['quiet']):.2f} s  "
            f"noisy: {statistics.median(walls['noisy']):.2f} s  "
            f"(flush after noisy: {statistics.median(walls['flush']):.2f} s)"
        )
        print(f"ratio noisy/quiet step latency: {noisy / quiet:.3f} (goal <= 1.05)")
        wall_ratio = statistics.median(walls["noisy"]) / statistics.median(walls["quiet"])
        print(f"ratio noisy/quiet run wall time: {wall_ratio:.3f}")
    finally:
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
