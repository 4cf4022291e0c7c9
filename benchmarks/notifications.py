"""Do 1,000 notifications slow the pipeline that caused them?

Two pipelines of 1,000 quick mapped steps, each failing once with a transient error and then
succeeding: `quiet` notifies nobody, `noisy` notifies a topic on every retry (1,000 messages)
whose webhook subscription points at a real HTTP receiver in another process on loopback.
They run in pairs, back to back, in one process; a step's latency is from its first start to
its final success (from the run's history); the figure is the median over the rounds of the
ratio of the two runs' median step latencies, noisy over quiet.

    python benchmarks/notifications.py [--steps 1000] [--rounds 5]

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

# A webhook receiver in its own process: HTTP/1.1 with keep-alive on asyncio streams, answering
# 200 to every POST and counting them (lean, so the receiver's own CPU time stays small).
RECEIVER = textwrap.dedent(
    """
    import asyncio, sys

    async def serve(reader, writer):
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
            await writer.drain()

    async def guarded(reader, writer):
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(guarded, "127.0.0.1", int(sys.argv[1]))
        async with server:
            await server.serve_forever()

    asyncio.run(main())
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


def settle(notifier: object, run_id: str) -> float:
    """Wait until no delivery of `run_id` is left untried; returns the seconds waited."""
    started = time.perf_counter()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        statuses = {d.status for d in notifier.outbox.list(run_id=run_id, limit=10**6)}  # type: ignore[attr-defined]
        if statuses and "PENDING" not in statuses:
            break
        time.sleep(0.02)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
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

        # warm up: imports, the store, the thread pool, and the delivery process, which a
        # long-lived process (lockgate serve) starts once; `lockgate run` pays its start once per run
        lockgate.run(bp.quiet, tag="warmup", n=50)
        settle(notifier, lockgate.run(bp.noisy, tag="warmup", n=50).run_id)
        runs: dict[str, list[str]] = {"quiet": [], "noisy": []}
        walls: dict[str, list[float]] = {"quiet": [], "noisy": [], "flush": []}
        for round_ in range(args.rounds):
            # pairs run back to back, in alternating order, so both see the same machine load
            order = [("quiet", bp.quiet), ("noisy", bp.noisy)]
            for name, pipe in order if round_ % 2 == 0 else order[::-1]:
                started = time.perf_counter()
                run = lockgate.run(pipe, tag=f"{name}{round_}", n=args.steps)
                walls[name].append(time.perf_counter() - started)
                assert run.status == "SUCCEEDED", run.cause
                runs[name].append(run.run_id)
                if name == "noisy":  # the rest is sent outside the measured run
                    walls["flush"].append(settle(notifier, run.run_id))

        latency = {name: [statistics.median(step_latencies(runtime, r)) for r in ids] for name, ids in runs.items()}
        step_ratios = [n / q for q, n in zip(latency["quiet"], latency["noisy"], strict=True)]
        wall_ratios = [n / q for q, n in zip(walls["quiet"], walls["noisy"], strict=True)]
        delivered = notifier.outbox.list(limit=10**6, status="DELIVERED")
        pending = [d for d in notifier.outbox.list(limit=10**6) if d.status != "DELIVERED"]
        ended = {r: runtime.view(r).ended_at for r in runs["noisy"]}
        during = sum(1 for d in delivered if d.run_id in ended and (d.delivered_at or 0) <= (ended[d.run_id] or 0))
        print(f"steps per run: {args.steps}, rounds: {args.rounds}")
        print(f"notifications per noisy run: {len(delivered) // args.rounds} delivered ({len(pending)} not delivered)")
        print(f"  delivered while their run was still running: {during * 100 // max(1, len(delivered))}%")
        for error in sorted({d.last_error or d.status for d in pending})[:5]:
            print(f"  not delivered: {error}")
        print(
            f"median step latency  quiet: {statistics.median(latency['quiet']) * 1000:.2f} ms  "
            f"noisy: {statistics.median(latency['noisy']) * 1000:.2f} ms"
        )
        print(
            f"median run wall time quiet: {statistics.median(walls['quiet']):.2f} s  "
            f"noisy: {statistics.median(walls['noisy']):.2f} s  "
            f"(then flushing the rest: {statistics.median(walls['flush']):.2f} s)"
        )
        print(f"per-round step latency ratios: {' '.join(f'{r:.3f}' for r in step_ratios)}")
        print(f"ratio noisy/quiet step latency (median of rounds): {statistics.median(step_ratios):.3f} (goal <= 1.05)")
        print(f"ratio noisy/quiet run wall time (median of rounds): {statistics.median(wall_ratios):.3f}")
        notifier.close()
    finally:
        receiver.terminate()
        receiver.wait(10)


if __name__ == "__main__":
    main()
