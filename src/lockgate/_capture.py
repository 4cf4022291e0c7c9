"""Routing a step's stdout, stderr and logging to its attempt's log file, per thread."""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

_local = threading.local()
_installed = False
_install_lock = threading.Lock()


class _Sink:
    """An attempt's log file, opened on the first write so silent steps cost no file.

    A write that fails (a full disk) closes the file and raises a clear TaskError naming the file
    from then on; `failed` keeps it, so the attempt fails with it even if the step caught it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        self.failed: Exception | None = None

    def write(self, text: str) -> None:
        with self._lock:
            if self.failed is not None:
                raise self.failed
            try:
                if self._file is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
                self._file.write(text)
                self._file.flush()
            except OSError as exc:
                self.failed = _not_written(self.path, exc)
                self._drop()
                raise self.failed from None

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                try:
                    self._file.close()
                except OSError as exc:
                    if self.failed is None:
                        self.failed = _not_written(self.path, exc)
                self._file = None

    def _drop(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass  # what it held is lost with the full disk; `failed` says so
            self._file = None


def _not_written(path: Path, exc: OSError) -> Exception:
    import errno

    from lockgate.core.errors import TaskError

    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    return TaskError(
        f"the attempt's log could not be written to {path}: {exc.strerror or exc}",
        error="lockgate.LogFolderFull" if full else "lockgate.LogNotWritten",
        retryable=True,
    )


class _Router(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: a thread inside an attempt writes to its log."""

    def __init__(self, original: TextIO) -> None:
        self.original = original

    def write(self, text: str) -> int:
        sink = getattr(_local, "sink", None)
        if sink is not None:
            sink.write(text)
        else:
            self.original.write(text)
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "sink", None) is None:
            self.original.flush()

    def isatty(self) -> bool:
        return getattr(_local, "sink", None) is None and self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


class _Handler(logging.Handler):
    """Sends records made inside an attempt to its log; others at WARNING and up to stderr."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        sink = getattr(_local, "sink", None)
        if sink is not None:
            sink.write(self.format(record) + "\n")


class _Outside(logging.Filter):
    """Lets a handler see records below `level` only from outside any step (where they go to the log)."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level and getattr(_local, "sink", None) is None


def install() -> None:
    """Put the routers in place: the logging handler once per process, the stream routers
    whenever sys.stdout/sys.stderr were swapped since (test runners swap them per test)."""
    global _installed
    with _install_lock:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router(sys.stdout)  # type: ignore[assignment]
        if not isinstance(sys.stderr, _Router):
            sys.stderr = _Router(sys.stderr)  # type: ignore[assignment]
        if _installed:
            return
        root = logging.getLogger()
        if root.level > logging.INFO:
            # Steps log at INFO and up; outside steps, every handler keeps the threshold it had.
            previous = root.level
            if not root.handlers:  # the root logger used to print warnings to stderr: go on doing so
                root.addHandler(logging.StreamHandler(sys.stderr))
            for handler in root.handlers:
                handler.addFilter(_Outside(previous))
            root.setLevel(logging.INFO)
        root.addHandler(_Handler())
        _installed = True


@contextlib.contextmanager
def attempt_log(path: Path) -> Iterator[_Sink]:
    """Within this block, this thread's output goes to `path` (the sink's `failed` says whether
    all of it could be written, once the block has ended)."""
    install()
    sink = _Sink(path)
    previous = getattr(_local, "sink", None)
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = previous
        sink.close()
