"""The `validate` task: is this file what it claims to be, and does its data keep the rules?"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from lockgate import _json
from lockgate.core.errors import DataQualityError, UsageError
from lockgate.dag.task import task
from lockgate.tasks import _csv, _fs, _rules, _schema, _sniff
from lockgate.tasks._rules import quote

log = logging.getLogger(__name__)


@task
def validate(
    uri: str,
    format: str | None = "csv",
    schema: dict[str, Any] | None = None,
    rules: list[dict[str, Any]] | None = None,
    quarantine: str | None = None,
    report: str | None = None,
    connection: str | None = None,
) -> dict[str, Any]:
    """Check a data file's real format, columns, types and rules; write a JSON report.

    `format` is what the file should hold (csv, json, jsonl, parquet; None accepts what it
    holds). The report goes to `report`, else `<uri>.report.json`. On failure raises
    DataQualityError (`.report` is the report's URI) after copying the file and its report
    into the `quarantine` folder if one is given. The original file is only ever read.
    """
    declared = _sniff.normalize(format, f"validate({uri!r})")
    columns, implied = _schema.parse(schema)
    checks = _rules.parse(implied) + _rules.parse(rules)
    fs, path = _fs.filesystem(uri, connection)
    if not fs.isfile(path):
        raise UsageError(f"validate: {uri}: no such file")
    report_uri = report or f"{uri}.report.json"
    detected = _sniff.sniff(_sniff.read_head(fs, path))
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lockgate-validate-") as scratch:
        local = path if _fs.is_local(fs) else _stage(fs, path, Path(scratch))
        results, rows = _check(local, declared, detected, columns, checks, fs, path, scratch)
    valid = all(r["passed"] for r in results)
    quarantined = _quarantine_name(quarantine, path, started, connection) if quarantine and not valid else None
    document = {
        "uri": uri,
        "format": detected,
        "declared_format": declared,
        "rows": rows,
        "valid": valid,
        "checked_at": _json.iso(started),
        "seconds": round(time.time() - started, 3),
        "failed": [r["name"] for r in results if not r["passed"]],
        "checks": results,
        "quarantine": quarantined,
    }
    text = (_json.dumps(document) + "\n").encode()
    _fs.write_bytes(report_uri, text, connection)
    if valid:
        log.info("%s: valid (%d rows, %d checks)", uri, rows, len(results))
        return {"uri": uri, "format": detected, "rows": rows, "report": report_uri, "valid": True}
    if quarantined:
        qfs, qpath = _fs.filesystem(quarantined, connection)
        _fs.copy(fs, path, qfs, qpath)
        _fs.write_bytes(f"{quarantined}.report.json", text, connection)
        log.warning("%s: quarantined to %s", uri, quarantined)
    summary = "; ".join(_summary(r) for r in results if not r["passed"])
    raise DataQualityError(f"{uri} failed validation: {summary}; report: {report_uri}", report=report_uri)


def _quarantine_name(folder: str, path: str, now: float, connection: str | None) -> str:
    """Where the copy goes: the file's name, stamped with the time if that name is taken."""
    name = os.path.basename(path)
    target = _fs.join(folder, name)
    qfs, qpath = _fs.filesystem(target, connection)
    if not qfs.exists(qpath):
        return target
    stem, dot, suffix = name.partition(".")
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return _fs.join(folder, f"{stem}.{stamp}{dot}{suffix}")


def _summary(result: dict[str, Any]) -> str:
    if result.get("message"):
        return f"{result['name']}: {result['message']}"
    return f"{result['name']}: {result['bad_rows']} bad row(s)"


def _stage(fs: Any, path: str, folder: Path) -> str:
    """Copy a remote file to local scratch space (streamed), for the checks to read."""
    local = str(folder / os.path.basename(path))
    _fs.copy(fs, path, _fs.filesystem(local)[0], local)
    return local


def _check(
    local: str,
    declared: str | None,
    detected: str,
    columns: list[_schema.Column],
    rules: list[_rules.Rule],
    fs: Any,
    path: str,
    scratch: str,
) -> tuple[list[dict[str, Any]], int]:
    results: list[dict[str, Any]] = []
    fmt_ok = detected != "empty" and (
        declared is None or declared == detected or {declared, detected} <= {"json", "jsonl"}
    )
    message = ""
    if detected == "empty":
        message = "the file is empty"
    elif not fmt_ok:
        message = f"declared {declared} but the content is {detected}"
    results.append(_rules.entry("format", None, "format", bad=0, message=message))
    if not fmt_ok:
        return results, 0
    import duckdb

    # naive timestamps in data are read as UTC; no progress bar on the step's output
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    con.execute("SET temp_directory = ?", [scratch])  # big files spill here, removed afterwards
    con.execute("SET memory_limit = '1GB'")
    try:
        header: list[str] = []
        delimiter = ","
        if detected == "csv":
            header, delimiter = _csv.header(local)
            results.append(_csv.structure(con, local, delimiter))
        unreadable = _load(con, local, detected, header, delimiter)
        if unreadable:
            results.append(_rules.entry("parse", None, "parse", bad=0, message=unreadable))
            return results, 0
        present = [row[0] for row in con.execute("DESCRIBE raw").fetchall()]
        missing = [c.name for c in columns if c.name not in present]
        results.append(
            _rules.entry(
                "columns", None, "columns", bad=0, message=f"missing column(s): {', '.join(missing)}" if missing else ""
            )
        )
        sniffed = _csv.sniffed_types(con, local, delimiter) if detected == "csv" else {}
        results += _types(con, detected, columns, present, sniffed)
        rows = int(con.execute("SELECT count(*) FROM raw").fetchall()[0][0])
        results += _run_rules(con, rules, present, rows, fs, path)
    finally:
        con.close()
    return results, rows


def _load(con: Any, local: str, fmt: str, header: list[str], delimiter: str) -> str:
    """Table `raw` (the file's values in file order: rowid + 1 is the row number).

    Returns why the file cannot be read at all, or "" when it was read.
    """
    import duckdb

    try:
        if fmt == "csv":
            _load_csv(con, local, header, delimiter)
        elif fmt in ("json", "jsonl"):
            layout = "newline_delimited" if fmt == "jsonl" else "auto"
            con.execute(f"CREATE TEMP TABLE raw AS SELECT * FROM read_json(?, format='{layout}')", [local])
        else:
            con.execute("CREATE TEMP TABLE raw AS SELECT * FROM read_parquet(?)", [local])
    except duckdb.Error as exc:
        return f"cannot be read as {fmt}: {str(exc).strip().splitlines()[0]}"
    return ""


def _load_csv(con: Any, local: str, header: list[str], delimiter: str) -> None:
    import duckdb

    sql = "CREATE TEMP TABLE raw AS SELECT * FROM read_csv(?, delim=?, header=true, all_varchar=true{})"
    try:
        con.execute(sql.format(""), [local, delimiter])
    except duckdb.Error:  # ragged rows (the structure check names them): read them padded, in one thread
        con.execute(sql.format(", null_padding=true, strict_mode=false, parallel=false"), [local, delimiter])
    extra = [c for c in (r[0] for r in con.execute("DESCRIBE raw").fetchall()) if header and c not in header]
    for name in extra:  # cells past the header's end: already reported by the structure check
        con.execute(f"ALTER TABLE raw DROP COLUMN {quote(name)}")


def _types(
    con: Any, fmt: str, columns: list[_schema.Column], present: list[str], sniffed: dict[str, str]
) -> list[dict[str, Any]]:
    """Check declared types, then make view `data`: every column at its declared or inferred type."""
    declared = {c.name: c.duckdb_type for c in columns}
    types = {name: declared.get(name) for name in present}
    if fmt == "csv":
        inferred = _csv.inferred_types(con, [n for n in present if n not in declared], sniffed)
        types.update(inferred)
    results = []
    for column in columns:
        if column.name not in present:
            continue
        col = quote(column.name)
        bad_sql = f"{col} IS NOT NULL AND TRY_CAST({col} AS {column.duckdb_type}) IS NULL"
        bad = int(con.execute(f"SELECT count(*) FROM raw WHERE {bad_sql}").fetchone()[0])
        examples = []
        if bad:
            examples = [
                {"row": int(r) + 1, "value": _plain(v)}
                for r, v in con.execute(
                    f"SELECT rowid, {col} FROM raw WHERE {bad_sql} ORDER BY rowid LIMIT 5"
                ).fetchall()
            ]
        results.append(_rules.entry("type", column.name, f"{column.name} is {column.type}", bad=bad, examples=examples))
    select = ", ".join(f"TRY_CAST({quote(n)} AS {types[n]}) AS {quote(n)}" if types[n] else quote(n) for n in present)
    con.execute(f"CREATE TEMP VIEW data AS SELECT rowid AS __row, {select} FROM raw")
    return results


def _run_rules(
    con: Any, rules: list[_rules.Rule], present: list[str], rows: int, fs: Any, path: str
) -> list[dict[str, Any]]:
    results = []
    for rule in rules:
        if rule.column is not None and rule.column not in present:
            results.append(_rules.outcome(rule, 0, [], f"column {rule.column!r} is not in the file"))
        elif rule.check == "row_count":
            low, high = rule.spec.get("min"), rule.spec.get("max")
            wrong = (low is not None and rows < low) or (high is not None and rows > high)
            results.append(_rules.outcome(rule, 0, [], f"{rows} rows" if wrong else ""))
        elif rule.check == "freshness":
            results.append(_freshness(con, rule, fs, path))
        else:
            params: list[Any] = []
            where = _rules.bad_row_sql(rule, params)
            try:
                bad = int(con.execute(f"SELECT count(*) FROM data WHERE {where}", params).fetchone()[0])
                examples = []
                if bad:
                    col = quote(rule.column or "")
                    sql = f"SELECT __row, {col} FROM data WHERE {where} ORDER BY __row LIMIT {_rules.EXAMPLES}"
                    examples = [{"row": int(r) + 1, "value": _plain(v)} for r, v in con.execute(sql, params).fetchall()]
                results.append(_rules.outcome(rule, bad, examples))
            except Exception as exc:  # duckdb.Error: a rule that cannot apply to this column's type
                results.append(_rules.outcome(rule, 0, [], f"cannot be checked: {str(exc).splitlines()[0]}"))
    return results


def _freshness(con: Any, rule: _rules.Rule, fs: Any, path: str) -> dict[str, Any]:
    limit = float(rule.spec["max_age_seconds"])
    now = time.time()
    if rule.column is None:
        newest = _mtime(fs, path)
        what = "the file was modified"
    else:
        col = quote(rule.column)
        value = con.execute(f"SELECT epoch(max(TRY_CAST({col} AS TIMESTAMPTZ))) FROM data").fetchone()[0]
        newest = float(value) if value is not None else None
        what = f"the newest {rule.column}"
    if newest is None:
        return _rules.outcome(rule, 0, [], f"{what}: no timestamp found")
    age = now - newest
    when = dt.datetime.fromtimestamp(newest, dt.UTC).isoformat().replace("+00:00", "Z")
    message = f"{what} {age:.0f} s ago ({when}), more than {limit:g} s" if age > limit else ""
    entry = _rules.outcome(rule, 0, [], message)
    entry["newest"] = when
    return entry


def _mtime(fs: Any, path: str) -> float | None:
    modified = fs.modified(path)
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=dt.UTC) if not _fs.is_local(fs) else modified.astimezone()
    return float(modified.timestamp())


def _plain(value: Any) -> Any:
    return _json.loads(_json.dumps(value)) if not isinstance(value, float) or value == value else None
