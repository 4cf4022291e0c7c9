"""The pipeline file a run started with, and its hash, so a worker never runs other code."""

from __future__ import annotations

import hashlib
import importlib.util
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


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def source_hash(source: str) -> str:
    """sha256 of the source's file, or "" when there is no file to hash."""
    path = source_file(source)
    if path is None:
        return ""
    try:
        return file_hash(path)
    except OSError:
        return ""
