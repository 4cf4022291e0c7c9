"""The manifest variant of the feedback pipeline: many small files, one manifest, one run,
one Parquet file.

A partner drops a batch of small feedback CSVs, then a manifest listing them. Only the manifest
starts a run (the `Manifest` trigger); the run checks that every listed file exists, validates
each one, and converts them all into a single Parquet file.

Run it by hand (it lands a sample batch of 12 files and its manifest first):

    lockgate run examples/feedback_manifest.py:feedback_batch

or land a batch, build the event the trigger would pass, and hand it to the run:

    lockgate run examples/feedback_manifest.py:feedback_batch \\
        --param event="$(python examples/feedback_manifest.py --files 20)"

or let the service start one run per manifest that lands in ./lake/incoming/feedback/:

    lockgate serve --pipelines examples/
    python examples/feedback_manifest.py        # in another shell: a new batch, a new run

The Parquet file goes to ./lake/processed/feedback_batches/ (one file per batch); a file that
fails validation is copied to ./lake/quarantine/ and fails the run.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
import sys
from typing import Any

from lockgate import pipeline, task
from lockgate.tasks import to_parquet, validate
from lockgate.triggers import Manifest

INCOMING = "lake/incoming/feedback"
PROCESSED = "lake/processed/feedback_batches"
SCHEMA = {
    "fields": [
        {"name": "feedback_id", "type": "integer", "constraints": {"required": True}},
        {"name": "received_date", "type": "date", "constraints": {"required": True}},
        {"name": "course", "type": "string", "constraints": {"required": True}},
        {"name": "rating", "type": "integer", "constraints": {"required": True, "minimum": 1, "maximum": 5}},
        {"name": "comment", "type": "string"},
    ]
}
COMMENTS = ["great labs", "clear explanations", "too fast", "audio was poor", "ok", "loved the quizzes"]


def land_sample_batch(files: int = 12, rows: int = 25, batch: str = "2026-11-25") -> str:
    """Write `files` small feedback CSVs and then their manifest (last, as a partner would); returns its path."""
    rng = random.Random(batch)
    folder = os.path.join(INCOMING, f"batch-{batch}")
    os.makedirs(folder, exist_ok=True)
    names = []
    for n in range(1, files + 1):
        name = f"feedback-{n:03d}.csv"
        with open(os.path.join(folder, name), "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["feedback_id", "received_date", "course", "rating", "comment"])
            for i in range(rows):
                rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 3, 4])[0]
                writer.writerow([n * 1000 + i, batch, rng.choice(["DEA-C01", "SAA-C03"]), rating, rng.choice(COMMENTS)])
        names.append(name)
    manifest = os.path.join(folder, "manifest.json")
    with open(f"{manifest}.part", "w") as handle:
        json.dump({"files": names}, handle)
    os.replace(f"{manifest}.part", manifest)  # the manifest appears whole, after every file it lists
    return manifest


def manifest_event(path: str) -> dict[str, Any]:
    """The `event` a Manifest trigger passes for the manifest at `path` (see docs/triggers.md)."""
    from lockgate.triggers.files import file_uri
    from lockgate.triggers.manifests import read_manifest

    stat = os.stat(path)
    uri = file_uri(path)
    return {
        "uri": uri,
        "key": os.path.relpath(path, INCOMING),
        "size": stat.st_size,
        "etag": f"{stat.st_mtime_ns}-{stat.st_size}",
        "time": dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "manifest": uri,
        "files": read_manifest(uri),
    }


@task
def land_batch() -> dict[str, Any]:
    """Stand in for the partner: land a sample batch and return the event its manifest makes."""
    return manifest_event(land_sample_batch())


@task
def check_manifest(event: dict[str, Any]) -> list[str]:
    """Every file the manifest lists must exist; returns them (URIs). A missing one fails the run."""
    from lockgate import TaskError
    from lockgate.triggers.manifests import missing_files

    files = event.get("files")
    if not isinstance(files, list) or not files:
        raise TaskError(f"manifest {event.get('manifest')} lists no files", error="lockgate.InvalidManifest")
    missing = missing_files(files)
    if missing:
        raise TaskError(
            f"manifest {event['manifest']} lists {len(missing)} missing file(s): {', '.join(missing)}",
            error="lockgate.ManifestFilesMissing",
            retryable=False,
        )
    return [str(f) for f in files]


@task
def summarise(event: dict[str, Any], files: list[str], converted: dict[str, Any]) -> dict[str, Any]:
    summary = {
        "manifest": event["manifest"],
        "files": len(files),
        "rows": converted["rows"],
        "parquet": converted["files"],
    }
    print(f"{len(files)} files, {converted['rows']} rows -> {converted['files'][0]}")
    return summary


@pipeline(triggers=[Manifest(INCOMING, pattern="manifest*.json", settle_seconds=1)])
def feedback_batch(event: dict | None = None) -> object:  # type: ignore[type-arg]
    if event is None:  # started by hand: land a sample batch first
        event = land_batch()
    files = check_manifest(event)
    checked = validate.map(files, format="csv", schema=SCHEMA, quarantine="lake/quarantine")
    converted = to_parquet(files, PROCESSED, format="csv", mode="append")
    checked >> converted
    return summarise(event, files, converted)


if __name__ == "__main__":
    count = int(sys.argv[sys.argv.index("--files") + 1]) if "--files" in sys.argv else 12
    print(json.dumps(manifest_event(land_sample_batch(files=count))))
