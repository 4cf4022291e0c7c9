"""What a data file really holds, judged by its first bytes rather than its name."""

from __future__ import annotations

import json
from typing import Any

FORMATS = ("csv", "json", "jsonl", "parquet")
SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
HEAD_BYTES = 64 * 1024


def by_name(path: str) -> str | None:
    """The format a file's extension claims, or None."""
    lower = path.lower()
    for suffix, fmt in SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    return None


def sniff(head: bytes) -> str:
    """'parquet', 'json' (one document), 'jsonl' (one document a line), 'csv' or 'empty'."""
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not text:
        return "empty"
    if text[:1] == b"[":
        return "json"
    if text[:1] == b"{":
        lines = [line for line in text.splitlines() if line.strip()]
        complete = lines[:-1] if len(head) >= HEAD_BYTES and len(lines) > 1 else lines
        if len(complete) > 1 and all(_is_object(line) for line in complete[:50]):
            return "jsonl"
        return "json"
    return "csv"


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def read_head(fs: Any, path: str) -> bytes:
    with fs.open(path, "rb") as handle:
        return bytes(handle.read(HEAD_BYTES))


def normalize(fmt: str | None, where: str) -> str | None:
    """A user's format argument checked and lowercased ('ndjson' is 'jsonl')."""
    from lockgate.core.errors import UsageError

    if fmt is None:
        return None
    value = fmt.lower().strip(".")
    value = {"ndjson": "jsonl", "pq": "parquet", "tsv": "csv"}.get(value, value)
    if value not in FORMATS:
        raise UsageError(f"{where}: format {fmt!r} is not one of {', '.join(FORMATS)}")
    return value
