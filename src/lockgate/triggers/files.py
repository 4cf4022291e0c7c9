"""Object triggers: a file landing in a local folder or an object in an S3 bucket.

An object is seen as an `ObjectSeen` (uri, key, size, etag, time), whatever saw it: inotify,
the polling scan, an S3 listing or a pushed notification. Its dedup key is its URI and ETag
(a local file's ETag is its mtime and size), so each version of an object starts one run.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from lockgate.core.errors import UsageError


@dataclass(frozen=True, slots=True)
class ObjectSeen:
    """A complete object: `key` is its path within the bucket (S3) or below the watched folder (local)."""

    uri: str
    key: str
    size: int
    etag: str
    time: float

    def event(self) -> dict[str, Any]:
        stamp = dt.datetime.fromtimestamp(self.time, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"uri": self.uri, "key": self.key, "size": self.size, "etag": self.etag, "time": stamp}


def normalize_uri(uri: str, where: str) -> str:
    """`s3://bucket/prefix/` stays; a local path or file:// URI becomes an absolute file:// URI ending in /."""
    if not isinstance(uri, str) or not uri:
        raise UsageError(f"{where}: the URI must be a non-empty string")
    if uri.startswith(("s3://", "s3a://")):
        rest = uri.split("://", 1)[1]
        if not rest or rest.startswith("/"):
            raise UsageError(f"{where}: {uri!r} names no bucket")
        return "s3://" + rest.rstrip("/") + "/"
    if "://" in uri and not uri.startswith("file://"):
        raise UsageError(f"{where}: {uri!r}: only s3:// and local folders (file:// or a path) can be watched")
    path = unquote(urlparse(uri).path) if uri.startswith("file://") else uri
    return Path(os.path.abspath(path)).as_uri().rstrip("/") + "/"


def local_path(uri: str) -> str:
    return unquote(urlparse(uri).path)


def file_uri(path: str) -> str:
    return "file://" + quote(os.path.abspath(path))


def etag_of(stat: os.stat_result) -> str:
    """A local file's version: its mtime (ns) and size, so a rewrite is a new version."""
    return f"{stat.st_mtime_ns:x}-{stat.st_size:x}"


@dataclass(frozen=True, slots=True)
class FileArrival:
    """One run per new complete object under `uri` whose name matches `pattern` and whose key starts with `prefix`.

    `uri` is `s3://bucket/prefix/`, `file:///folder/` or a folder path; subfolders are watched
    too. `prefix` is relative to `uri`; `pattern` is a glob on the object's name.
    Local files are complete when closed or moved in (or, when only polling can see them,
    unchanged for `settle_seconds`); buckets are listed every `poll_interval` seconds.
    """

    uri: str
    pattern: str = "*"
    prefix: str = ""
    settle_seconds: float = 5.0
    poll_interval: float = 10.0

    def __post_init__(self) -> None:
        # Resolved once, so a relative folder means the one current when the pipeline was defined.
        object.__setattr__(self, "uri", normalize_uri(self.uri, f"{type(self).__name__}({self.uri!r})"))
        if self.settle_seconds < 0 or not self.poll_interval > 0:
            raise UsageError(f"{type(self).__name__}({self.uri!r}): settle_seconds must be >= 0 and poll_interval > 0")

    @property
    def root(self) -> str:
        return self.uri

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    @property
    def key(self) -> str:
        return f"{type(self).__name__.lower()}:{self.root}{self.prefix}|{self.pattern}"

    def relative(self, uri: str) -> str | None:
        """The part of `uri` below this trigger's root, or None when it is not below it."""
        root = self.root
        if not uri.startswith(root) or uri == root:
            return None
        return uri[len(root) :].lstrip("/")

    def matches(self, uri: str) -> bool:
        rel = self.relative(uri)
        if rel is None or rel.endswith("/") or not rel.startswith(self.prefix):
            return False
        name = rel.rsplit("/", 1)[-1]
        return fnmatch.fnmatchcase(name, self.pattern)

    def event(self, obj: ObjectSeen) -> dict[str, Any]:
        return obj.event()

    def describe(self) -> str:
        extra = f" prefix={self.prefix}" if self.prefix else ""
        return f"files {self.root}{self.pattern}{extra}"
