"""Distributed Map I/O: ItemReader (JSON, JSONL, CSV files; object listings) and ResultWriter.

Where the items are: `Parameters` `{"Bucket", "Key"}` (`s3://Bucket/Key`) for
`arn:aws:states:::s3:getObject`, `{"Bucket", "Prefix"}` for `arn:aws:states:::s3:listObjectsV2`;
lockgate also takes `{"Path": <local path, file:// or s3:// URI>}` in place of Bucket/Key or
Bucket/Prefix, so a folder on disk works the same. S3 settings are the standard AWS ones.
`ReaderConfig`: `InputType` (JSON, JSONL, CSV, MANIFEST), `CSVHeaderLocation` (FIRST_ROW or
GIVEN with `CSVHeaders`), `CSVDelimiter` (COMMA, PIPE, SEMICOLON, SPACE, TAB), `MaxItems`.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from lockgate.asl import errors as e

GET_OBJECT = "arn:aws:states:::s3:getObject"
LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"
PUT_OBJECT = "arn:aws:states:::s3:putObject"
_DELIMITERS = {"COMMA": ",", "PIPE": "|", "SEMICOLON": ";", "SPACE": " ", "TAB": "\t"}


class ItemsError(Exception):
    """Reading items or writing results failed; `error` is the ASL name."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(error, cause)
        self.error, self.cause = error, cause


def _where(params: dict[str, Any], key: str, error: str) -> str:
    if isinstance(params.get("Path"), str):
        return str(params["Path"])
    bucket = params.get("Bucket")
    if not isinstance(bucket, str):
        raise ItemsError(error, f"Parameters need Bucket and {key}, or Path")
    return f"s3://{bucket}/{str(params.get(key) or '').lstrip('/')}"


def read_items(resource: str, params: dict[str, Any], config: dict[str, Any]) -> list[Any] | dict[str, Any]:
    """The items an ItemReader names (a JSON file holding an object gives that object, whose values
    are the items); ItemsError(States.ItemReaderFailed) when it cannot."""
    from lockgate.tasks._fs import filesystem

    fail = e.ITEM_READER_FAILED
    try:
        if resource == LIST_OBJECTS:
            uri = _where(params, "Prefix", fail)
            fs, path = filesystem(uri)
            items = _listing(fs, path, uri)
        elif resource == GET_OBJECT:
            uri = _where(params, "Key", fail)
            fs, path = filesystem(uri)
            with fs.open(path, "rb") as handle:
                text = handle.read().decode("utf-8-sig")
            items = _parse(text, config, uri)
        else:
            raise ItemsError(fail, f"ItemReader Resource {resource!r} is not {GET_OBJECT} or {LIST_OBJECTS}")
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ItemsError(fail, f"cannot read items: {type(exc).__name__}: {exc}") from None
    limit = config.get("MaxItems")
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        items = dict(list(items.items())[:limit]) if isinstance(items, dict) else items[:limit]
    return items


def _listing(fs: Any, path: str, uri: str) -> list[dict[str, Any]]:
    found = []
    folder = path if fs.isdir(path) else path.rsplit("/", 1)[0]
    for name, info in sorted(fs.find(folder, detail=True).items()):
        if info.get("type") == "directory" or not name.startswith(path.rstrip("/")):
            continue
        key = name.split("/", 1)[1] if uri.startswith("s3") else name
        modified = info.get("LastModified") or info.get("mtime") or info.get("created")
        found.append(
            {
                "Key": key,
                "Size": int(info.get("size") or 0),
                "LastModified": str(modified) if modified is not None else None,
                "Etag": str(info.get("ETag") or "").strip('"'),
                "StorageClass": info.get("StorageClass", "STANDARD"),
            }
        )
    return found


def _parse(text: str, config: dict[str, Any], uri: str) -> list[Any]:
    kind = str(config.get("InputType") or "JSON").upper()
    if kind == "JSON":
        value = json.loads(text)
        if not isinstance(value, (list, dict)):
            raise ItemsError(e.ITEM_READER_FAILED, f"{uri}: a JSON item file must hold an array or an object")
        return value  # type: ignore[return-value]  # an object: its values are the items, keyed
    if kind == "JSONL":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if kind == "MANIFEST":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if kind == "CSV":
        delimiter = _DELIMITERS.get(str(config.get("CSVDelimiter") or "COMMA").upper(), ",")
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
        if str(config.get("CSVHeaderLocation") or "FIRST_ROW").upper() == "GIVEN":
            headers = config.get("CSVHeaders")
            if not isinstance(headers, list):
                raise ItemsError(e.ITEM_READER_FAILED, "CSVHeaderLocation GIVEN needs CSVHeaders")
        else:
            if not rows:
                return []
            headers, rows = rows[0], rows[1:]
        return [dict(zip(headers, row, strict=False)) for row in rows if row]
    raise ItemsError(e.ITEM_READER_FAILED, f"ReaderConfig.InputType {kind!r} is not JSON, JSONL, CSV or MANIFEST")


def write_results(
    resource: str, params: dict[str, Any], results: list[dict[str, Any]], run: str, arn: str | None = None
) -> dict[str, Any]:
    """Write a Map's results as the service does: under `Prefix/<Map Run id>/`, `manifest.json`
    listing `SUCCEEDED_0.json` and `FAILED_0.json` by their full keys; the answer is
    `{"Bucket", "Key"}` of the manifest (Bucket empty for a local `Path`)."""
    from lockgate.tasks._fs import filesystem, join

    fail = e.RESULT_WRITER_FAILED
    if resource != PUT_OBJECT:
        raise ItemsError(fail, f"ResultWriter Resource {resource!r} is not {PUT_OBJECT}")
    base = join(_where(params, "Prefix", fail), run)
    on_s3 = base.startswith("s3")
    bucket, _, prefix = base.split("://", 1)[-1].partition("/") if on_s3 else ("", "", "")
    try:
        fs, path = filesystem(base)
        fs.makedirs(path, exist_ok=True)
        files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
        for status in ("SUCCEEDED", "FAILED"):
            chosen = [r for r in results if r["Status"] == status]
            if chosen:
                name = f"{status}_0.json"
                text = json.dumps(chosen)
                with fs.open(f"{path}/{name}", "w") as handle:
                    handle.write(text)
                key = f"{prefix}/{name}" if on_s3 else f"{path}/{name}"
                files[status].append({"Key": key, "Size": len(text.encode())})
        manifest = {"DestinationBucket": bucket or params.get("Bucket"), "MapRunArn": arn or run, "ResultFiles": files}
        with fs.open(f"{path}/manifest.json", "w") as handle:
            handle.write(json.dumps(manifest))
    except OSError as exc:
        raise ItemsError(fail, f"cannot write results to {base}: {exc}") from None
    return {"Bucket": bucket, "Key": f"{prefix}/manifest.json" if on_s3 else f"{path}/manifest.json"}
