"""The delivery process: sends deliveries off the run loop, on another core.

Sending from a thread of the process that runs pipelines costs that process CPU time under
one interpreter lock (a webhook POST through httpx is about 0.3 ms of CPU); a separate process
sends on another core instead (benchmarks/notifications.py measures both). The parent, a
Notifier, writes lines to this process's stdin:

    {"settings": {...}}     first: the parent's effective settings, as JSON
    id DELIVERY_ID          a delivery the parent queued (and holds): send it

and reads `CHANNEL STATUS` lines back for its metrics. It sends what it was given every
COALESCE_SECONDS. When stdin closes (the parent is closing, or died) it sends what is due for
up to `[notify] flush_seconds`, then exits; what is left stays in the outbox for `lockgate serve`.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from typing import Any

from lockgate.config import Settings

log = logging.getLogger(__name__)


class WorkerProcess:
    """The parent's handle on a delivery process."""

    def __init__(self, settings: Settings) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "lockgate.notify.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin = self._proc.stdin
        data = {**settings.data, "home": str(settings.home.absolute()), "database_url": settings.database_url}
        self._stdin.write(json.dumps({"settings": data}, default=str) + "\n")
        self._reader = threading.Thread(
            target=self._read, args=(self._proc.stdout,), name="lockgate-notify-out", daemon=True
        )
        self._reader.start()

    @staticmethod
    def _read(out: Any) -> None:
        from lockgate.server import metrics

        for line in out:
            channel, _, status = line.strip().partition(" ")
            if status:
                metrics.count_notification(channel, status.lower())

    def alive(self) -> bool:
        return self._proc.poll() is None

    def tell(self, lines: list[str]) -> bool:
        """Send lines; False when the process is gone."""
        if not lines:
            return True
        try:
            self._stdin.write("".join(line + "\n" for line in lines))
            self._stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def close(self, timeout: float) -> bool:
        """Close stdin and wait up to `timeout` for the process to finish sending; False if it had to be stopped."""
        try:
            self._stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.terminate()
            self._proc.wait(10)
            return False
        finally:
            self._reader.join(2.0)
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        return True


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="lockgate-notify: %(levelname)s %(message)s")
    first = sys.stdin.readline()
    if not first:
        return 0
    settings = Settings(json.loads(first)["settings"], None)
    from lockgate.notify.channels import Channels
    from lockgate.notify.delivery import BATCH, COALESCE_SECONDS, send_claimed
    from lockgate.notify.outbox import Outbox, retry_policy
    from lockgate.notify.topics import Topics
    from lockgate.store.sql import make_engine

    engine = make_engine(settings.database_url, sqlite_synchronous=str(settings.get("engine", "sqlite_synchronous")))
    topics = Topics(engine, settings)
    outbox = Outbox(engine, retry_policy(settings))
    channels = Channels(settings)
    ids: dict[str, None] = {}  # in the order given
    lock = threading.Lock()
    news = threading.Event()
    closed = threading.Event()

    def read() -> None:
        for line in sys.stdin:
            kind, _, value = line.strip().partition(" ")
            if kind == "id" and value:
                with lock:
                    ids[value] = None
                news.set()
        closed.set()
        news.set()

    threading.Thread(target=read, name="lockgate-notify-stdin", daemon=True).start()
    deadline: float | None = None
    try:
        while True:
            news.wait()
            if not closed.is_set():
                closed.wait(COALESCE_SECONDS)  # let a burst gather into one read and one write
            news.clear()
            if closed.is_set() and deadline is None:
                deadline = time.monotonic() + float(settings.get("notify", "flush_seconds", 5.0))
            while deadline is None or time.monotonic() < deadline:
                with lock:
                    mine, ids_now = list(ids), len(ids)
                    ids.clear()
                if not ids_now:
                    break
                for start in range(0, len(mine), BATCH):
                    held = outbox.held(mine[start : start + BATCH])
                    done = send_claimed(held, topics, outbox, channels, time.time, deadline)
                    try:
                        sys.stdout.write("".join(f"{d.channel} {status}\n" for d, status in done))
                        sys.stdout.flush()
                    except OSError:  # the parent is gone; its metrics with it
                        pass
            if closed.is_set():
                return 0
    finally:
        channels.close()
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
