"""Where attempt logs live: `[logs] url`, a folder or `s3://bucket/prefix/` (through fsspec).

Every machine writes an attempt's log to a local file (stdout, stderr and logging are appended
as they come). When the url is a folder (the default, `$LOCKGATE_HOME/logs`, or a shared mount),
that file is the log. When it is an object store, the file is uploaded every `upload_seconds`
while the step runs and once more when it ends, so `lockgate logs`, the API and the UI read a
running step's log from any machine, a few seconds behind at most.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_BYTES = 1_000_000


def key(run_id: str, step: str, attempt: int) -> str:
    return f"{run_id}/{step}/attempt-{attempt}.log"


def is_remote(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def _folder(url: str) -> Path:
    return Path(url.removeprefix("file://"))


class LogStore:
    """The logs location of one set of settings."""

    def __init__(self, settings: Any) -> None:
        url = str(settings.get("logs", "url") or "")
        self.url = url or str(settings.home.absolute() / "logs")
        self.remote = is_remote(self.url)
        self.upload_seconds = float(settings.get("logs", "upload_seconds", 3.0) or 3.0)
        self.spool = settings.home.absolute() / "logs"  # the local file of a remote log

    def local_path(self, run_id: str, step: str, attempt: int) -> Path:
        """The file this machine writes an attempt's log to."""
        base = self.spool if self.remote else _folder(self.url)
        return base / key(run_id, step, attempt)

    def location(self, run_id: str, step: str, attempt: int) -> str:
        """Where readers find it: a path, or the object's URL."""
        if self.remote:
            return self.url.rstrip("/") + "/" + key(run_id, step, attempt)
        return str(self.local_path(run_id, step, attempt))

    def read(self, run_id: str, step: str, attempt: int, max_bytes: int = MAX_BYTES) -> tuple[str, bool, bool]:
        """(text, exists, truncated): the last `max_bytes` of the log."""
        if not self.remote:
            return read_file(self.local_path(run_id, step, attempt), max_bytes)
        import fsspec

        where = self.location(run_id, step, attempt)
        try:
            fs, path = fsspec.core.url_to_fs(where)
            size = fs.size(path)
            start = max(0, size - max_bytes)
            data = fs.cat_file(path, start=start) if start else fs.cat_file(path)
        except FileNotFoundError:
            local = self.local_path(run_id, step, attempt)  # written here, not uploaded yet
            return read_file(local, max_bytes) if local.exists() else ("", False, False)
        return data.decode("utf-8", errors="replace"), True, size > max_bytes


def read_file(path: Path, max_bytes: int = MAX_BYTES) -> tuple[str, bool, bool]:
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            data = f.read()
    except FileNotFoundError:
        return "", False, False
    return data.decode("utf-8", errors="replace"), True, size > max_bytes


def upload(local: Path, url: str) -> None:
    import fsspec

    if not local.exists():
        return
    with fsspec.open(url, "wb") as out:
        out.write(local.read_bytes())


@contextlib.contextmanager
def publishing(local: Path, url: str, every: float) -> Iterator[None]:
    """While the block runs, upload `local` to `url` every `every` seconds if it grew; once at the end."""
    if not url:
        yield
        return
    stop = threading.Event()
    sent = [-1]

    def push() -> None:
        try:
            size = local.stat().st_size
        except FileNotFoundError:
            return
        if size != sent[0]:
            upload(local, url)
            sent[0] = size

    def loop() -> None:
        while not stop.wait(every):
            try:
                push()
            except Exception as exc:  # the store is away for a moment: the next upload catches up
                log.warning("uploading the log %s failed: %s", url, exc)

    thread = threading.Thread(target=loop, name="lockgate-log-upload", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        try:
            push()
        except Exception as exc:
            log.warning("uploading the log %s failed: %s", url, exc)
