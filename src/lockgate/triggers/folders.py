"""Local folders: which files are complete, from inotify events and from settling scans.

inotify tells of a file closed after writing (`close_write`) or moved into place (`moved_to`),
never of one merely created. Where no event can be seen (no inotify, events dropped by a
full kernel queue, files that landed while the service was down) a scan finds them: a file is
complete once its size and mtime have stayed the same for `settle_seconds`.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from lockgate.triggers.files import ObjectSeen, etag_of, file_uri

log = logging.getLogger(__name__)


def seen_file(path: str, root: str, stat: os.stat_result) -> ObjectSeen:
    """A local file as an object: its key is its path below `root`."""
    key = os.path.relpath(path, root).replace(os.sep, "/")
    return ObjectSeen(file_uri(path), key, stat.st_size, etag_of(stat), stat.st_mtime)


def walk_files(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular file below `root` with its stat; files that vanish meanwhile are skipped."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    yield entry.path, entry.stat()
            except FileNotFoundError:
                continue


class Settler:
    """Remembers files seen by scans until their size and mtime have held for a while."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[int, int, float]] = {}

    def settled(self, path: str, stat: os.stat_result, now: float, settle_seconds: float) -> bool:
        """True once `path` is unchanged for `settle_seconds` by our clock or by its own mtime."""
        shape = (stat.st_size, stat.st_mtime_ns)
        known = self._pending.get(path)
        if known is None or known[:2] != shape:
            self._pending[path] = (*shape, now)
            first = now
        else:
            first = known[2]
        if now - first >= settle_seconds or now - stat.st_mtime >= settle_seconds:
            self._pending.pop(path, None)
            return True
        return False

    def forget_missing(self, present: set[str]) -> None:
        for path in [p for p in self._pending if p not in present]:
            del self._pending[path]

    def __len__(self) -> int:
        return len(self._pending)


class _OverflowAlarm(logging.Handler):
    """watchdog only logs a full kernel event queue; this turns that log line into a signal."""

    def __init__(self, flag: threading.Event, wake: Callable[[], None]) -> None:
        super().__init__(logging.WARNING)
        self.flag = flag
        self.wake = wake

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in str(record.msg).lower():
            self.flag.set()
            self.wake()


class FolderWatch:
    """inotify on a set of folders (recursive): complete files' paths queue up for `drain()`.

    `on_event` is called (from the watcher's thread) after each queued path, to wake a loop.
    """

    def __init__(self, on_event: Callable[[], None] = lambda: None) -> None:
        self._paths: queue.SimpleQueue[str] = queue.SimpleQueue()
        self._on_event = on_event
        self._observer: Any = None
        self._watched: set[str] = set()
        self._lock = threading.Lock()
        # Set when a folder appears (files written into it before its watch began send no close
        # event) or the kernel's event queue overflowed: a settling scan must look for files.
        self.folder_created = threading.Event()
        self._alarm = _OverflowAlarm(self.folder_created, on_event)

    def watch(self, folder: str) -> bool:
        """Start watching `folder`; False when it cannot be watched (missing, or no inotify here)."""
        with self._lock:
            if folder in self._watched:
                return True
            if not os.path.isdir(folder):
                return False
            try:
                from watchdog.events import FileSystemEventHandler
                from watchdog.observers.inotify import InotifyObserver
            except ImportError:
                return False
            paths, wake, created = self._paths, self._on_event, self.folder_created

            class _Handler(FileSystemEventHandler):
                def on_created(self, event: Any) -> None:
                    if event.is_directory:
                        created.set()
                        wake()

                def on_closed(self, event: Any) -> None:
                    if not event.is_directory:
                        paths.put(os.fsdecode(event.src_path))
                        wake()

                def on_moved(self, event: Any) -> None:
                    if event.is_directory:
                        created.set()
                    else:
                        paths.put(os.fsdecode(event.dest_path))
                    wake()

            try:
                if self._observer is None:
                    for name in ("watchdog.observers.inotify", "watchdog.observers.inotify_c"):
                        logging.getLogger(name).addHandler(self._alarm)
                    self._observer = InotifyObserver(
                        generate_full_events=True
                    )  # a move in from outside is a move, not a create
                    self._observer.daemon = True
                    self._observer.start()
                self._observer.schedule(_Handler(), folder, recursive=True)
            except OSError as exc:  # no inotify (or its watch limit reached): scans alone find files
                log.warning("cannot watch %s with inotify (%s); polling it instead", folder, exc)
                return False
            self._watched.add(folder)
            return True

    def drain(self, limit: int = 100_000) -> list[str]:
        """Paths of files closed or moved in since the last drain (a path may repeat)."""
        out: list[str] = []
        while len(out) < limit:
            try:
                out.append(self._paths.get_nowait())
            except queue.Empty:
                break
        return out

    def stop(self) -> None:
        with self._lock:
            observer, self._observer = self._observer, None
            self._watched.clear()
        for name in ("watchdog.observers.inotify", "watchdog.observers.inotify_c"):
            logging.getLogger(name).removeHandler(self._alarm)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
