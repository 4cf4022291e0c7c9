"""Manifest triggers: a manifest file lists a batch's files; its arrival starts one run.

A manifest is JSON (a list of paths, or `{"files": [...]}`) or CSV/text with one path per line.
Relative paths resolve against the manifest's folder. Before the run starts, every listed file
must exist: otherwise the run fails naming every missing file, and no step runs.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass
from typing import Any

from lockgate.core.errors import UsageError
from lockgate.triggers.files import FileArrival, ObjectSeen

MISSING_FILES = "lockgate.ManifestFilesMissing"
INVALID_MANIFEST = "lockgate.InvalidManifest"


@dataclass(frozen=True, slots=True)
class Manifest(FileArrival):
    """One run per manifest landing under `uri` (name matching `pattern`); `event["files"]` lists its files."""

    pattern: str = "manifest*.json"

    def event(self, obj: ObjectSeen) -> dict[str, Any]:
        event = obj.event()
        event["manifest"] = obj.uri
        try:
            event["files"] = read_manifest(obj.uri)
        except (UsageError, OSError) as exc:
            # Kept in the event: the run then fails with this reason before any step.
            event["files"] = []
            event["manifest_error"] = str(exc)
        return event

    def describe(self) -> str:
        return f"manifest {self.root}{self.prefix}{self.pattern}"


def parse_manifest(text: str, name: str) -> list[str]:
    """The paths a manifest lists, in order; raises UsageError naming the manifest and the fault."""
    stripped = text.strip()
    if name.lower().endswith(".json") or stripped.startswith(("[", "{")):
        try:
            doc = json.loads(stripped or "null")
        except json.JSONDecodeError as exc:
            raise UsageError(f"manifest {name}: line {exc.lineno}: invalid JSON: {exc.msg}") from None
        files = doc.get("files") if isinstance(doc, dict) else doc
        if not isinstance(files, list):
            raise UsageError(f'manifest {name}: expected a JSON list of paths or {{"files": [...]}}')
        for i, item in enumerate(files):
            if not isinstance(item, str) or not item.strip():
                raise UsageError(f"manifest {name}: files[{i}] is {item!r}, not a path")
        return [item.strip() for item in files]
    paths = []
    for row in csv.reader(io.StringIO(text)):
        cells = [cell.strip() for cell in row if cell.strip()]
        if cells:
            paths.append(cells[0])
    return paths


def resolve(manifest_uri: str, path: str) -> str:
    """A listed path as a URI: absolute URIs stay, `/abs` keeps the manifest's scheme, others join its folder."""
    if "://" in path:
        return path
    scheme, _, rest = manifest_uri.partition("://")
    if path.startswith("/"):
        if scheme == "s3":
            bucket = rest.split("/", 1)[0]
            return f"s3://{bucket}{posixpath.normpath(path)}"
        return f"{scheme}://{posixpath.normpath(path)}"
    folder = posixpath.dirname(rest)
    return f"{scheme}://{posixpath.normpath(posixpath.join(folder, path))}"


def read_manifest(uri: str) -> list[str]:
    """The files a manifest lists, as URIs."""
    from lockgate.tasks._fs import filesystem

    fs, path = filesystem(uri)
    with fs.open(path, "rb") as handle:
        raw = handle.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"manifest {uri}: not UTF-8 text") from None
    return [resolve(uri, item) for item in parse_manifest(text, uri)]


def missing_files(files: list[str]) -> list[str]:
    """The listed files that do not exist, in the manifest's order (listings read fresh, not cached)."""
    from lockgate.tasks._fs import filesystem

    missing = []
    refreshed: set[int] = set()
    for uri in files:
        fs, path = filesystem(uri)
        if id(fs) not in refreshed:
            refreshed.add(id(fs))
            fs.invalidate_cache()
        if not fs.exists(path):
            missing.append(uri)
    return missing


def check_event(event: Any) -> tuple[str, str] | None:
    """(error, cause) when a manifest run cannot start: an unreadable manifest, or missing files."""
    if not isinstance(event, dict) or "manifest" not in event:
        return None
    manifest = event["manifest"]
    if event.get("manifest_error"):
        return INVALID_MANIFEST, str(event["manifest_error"])
    files = event.get("files")
    if not isinstance(files, list):
        return INVALID_MANIFEST, f"manifest {manifest}: the run's event has no list of files"
    missing = missing_files([str(f) for f in files])
    if not missing:
        return None
    listed = ", ".join(missing)
    return MISSING_FILES, f"manifest {manifest} lists {len(missing)} file(s) that do not exist: {listed}"
