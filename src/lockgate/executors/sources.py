"""The pipeline file a run started with, and its hash, so a worker never runs other code."""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path


def source_file(source: str) -> Path | None:
    """The file a Workflow's `source` names (`file:PATH`, or `module:NAME` found on sys.path)."""
    kind, _, where = source.partition(":")
    if kind == "file":
        return Path(where)
    if kind == "module":
        try:
            spec = importlib.util.find_spec(where)
        except (ImportError, ValueError):
            return None
        if spec is not None and spec.origin and spec.origin.endswith(".py"):
            return Path(spec.origin)
    return None


_hashes: dict[str, tuple[tuple[int, int, int, int], str]] = {}
_hashes_lock = threading.Lock()


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes, read again only when the file changed: every attempt on a worker
    and every run a service starts asks. Changed means another inode, size, mtime or ctime (a
    write sets ctime, which no tool can set back)."""
    stat = path.stat()
    key = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    with _hashes_lock:
        known = _hashes.get(str(path))
    if known is not None and known[0] == key:
        return known[1]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with _hashes_lock:
        _hashes[str(path)] = (key, digest)
    return digest


def source_hash(source: str) -> str:
    """sha256 of the source's file, or "" when there is no file to hash."""
    path = source_file(source)
    if path is None:
        return ""
    try:
        return file_hash(path)
    except OSError:
        return ""
