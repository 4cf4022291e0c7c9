"""CSV specifics of `validate`: the header, the file's structure, and its columns' types."""

from __future__ import annotations

import logging
import os
from typing import Any

from lockgate.tasks._rules import entry, quote

log = logging.getLogger(__name__)

_STRUCTURE_ERRORS = ["blank-label", "duplicate-label", "blank-row", "extra-cell", "missing-cell"]
STRUCTURE_SAMPLE_ROWS = 100_000  # rows frictionless reads; DuckDB checks the rest


def header(local: str) -> tuple[list[str], str]:
    """The header's names and the delimiter, sniffed from the first line."""
    import csv

    with open(local, newline="", encoding="utf-8-sig", errors="replace") as handle:
        sample = handle.read(64 * 1024)
    try:
        delimiter = csv.Sniffer().sniff(sample.split("\n", 1)[0], delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    first = next(csv.reader(sample.splitlines()[:1], delimiter=delimiter), [])
    return first, delimiter


def structure(con: Any, local: str, delimiter: str) -> dict[str, Any]:
    """CSV structure: labels, blank rows, missing and extra cells.

    frictionless checks the header and the first STRUCTURE_SAMPLE_ROWS rows; past those,
    DuckDB's reject log finds rows with missing or extra cells at C++ speed.
    """
    import duckdb
    import frictionless
    from frictionless.formats import CsvControl

    folder, name = os.path.split(local)
    resource = frictionless.Resource(
        path=name,
        basepath=folder,
        format="csv",
        dialect=frictionless.Dialect(controls=[CsvControl(delimiter=delimiter)]),
        detector=frictionless.Detector(field_type="string"),
    )
    report = resource.validate(
        frictionless.Checklist(pick_errors=_STRUCTURE_ERRORS), limit_rows=STRUCTURE_SAMPLE_ROWS, limit_errors=1000
    )
    found: dict[int | None, dict[str, Any]] = {}
    for row, field, kind, message in report.flatten(["rowNumber", "fieldNumber", "type", "message"]):
        key = row - 1 if row else None
        found.setdefault(key, {"row": key, "field": field, "error": kind, "message": message})
    sampled = int(report.tasks[0].stats.get("rows") or 0) if report.tasks else 0
    if sampled >= STRUCTURE_SAMPLE_ROWS:
        try:
            con.execute(
                "SELECT count(*) FROM read_csv(?, delim=?, header=true, all_varchar=true, store_rejects=true)",
                [local, delimiter],
            ).fetchall()
            rejects = con.execute(
                "SELECT line, error_type, error_message FROM reject_errors "
                "WHERE error_type IN ('MISSING COLUMNS', 'TOO MANY COLUMNS') AND line - 1 > ? ORDER BY line",
                [sampled],
            ).fetchall()
        except duckdb.Error as exc:  # unreadable past the sample: the parse check says so
            log.info("%s: no structure check past row %d: %s", local, sampled, exc)
            rejects = []
        for line, kind, message in rejects:
            error = "missing-cell" if kind == "MISSING COLUMNS" else "extra-cell"
            found.setdefault(int(line) - 1, {"row": int(line) - 1, "field": None, "error": error, "message": message})
    examples = sorted(found.values(), key=lambda e: (e["row"] is not None, e["row"] or 0))
    return entry("structure", None, "structure", bad=len(found), examples=examples)


def sniffed_types(con: Any, local: str, delimiter: str) -> dict[str, str]:
    """DuckDB's guess of each CSV column's type, from a sample of rows ({} if it cannot tell)."""
    import duckdb

    try:
        rows = con.execute("DESCRIBE SELECT * FROM read_csv(?, delim=?, header=true)", [local, delimiter]).fetchall()
    except duckdb.Error:
        return {}
    return {str(row[0]): str(row[1]) for row in rows}


def inferred_types(con: Any, names: list[str], sniffed: dict[str, str]) -> dict[str, str]:
    """For undeclared CSV columns, a type every value fits (else left as text).

    DuckDB's sampled guess is checked against every row in one pass; where it does not hold,
    the narrowest of a few candidate types is looked for.
    """
    if not names:
        return {}
    guesses = {n: sniffed[n] for n in names if sniffed.get(n, "VARCHAR") != "VARCHAR"}
    out: dict[str, str] = {}
    if guesses:
        probes = [
            f"bool_and({quote(n)} IS NULL OR TRY_CAST({quote(n)} AS {t}) IS NOT NULL)" for n, t in guesses.items()
        ]
        flags = con.execute(f"SELECT {', '.join(probes)} FROM raw").fetchall()[0]
        out = {n: t for (n, t), ok in zip(guesses.items(), flags, strict=True) if ok is not False}
    unsure = [n for n in names if (n in guesses and n not in out) or n not in sniffed]
    out.update(_narrowest_types(con, unsure))
    return out


def _narrowest_types(con: Any, names: list[str]) -> dict[str, str]:
    candidates = ("BIGINT", "DOUBLE", "BOOLEAN", "DATE", "TIMESTAMP", "TIMESTAMPTZ")
    if not names:
        return {}
    probes = []
    for name in names:
        col = quote(name)
        # a DATE cast also accepts (and truncates) a timestamp: dates must be date-long
        probes += [
            f"bool_and({col} IS NULL OR (TRY_CAST({col} AS {t}) IS NOT NULL"
            + (f" AND length(trim({col})) <= 10))" if t == "DATE" else "))")
            for t in candidates
        ]
    flags = con.execute(f"SELECT {', '.join(probes)} FROM raw").fetchall()[0]
    out = {}
    for i, name in enumerate(names):
        fits = flags[i * len(candidates) : (i + 1) * len(candidates)]
        chosen = next((t for t, ok in zip(candidates, fits, strict=True) if ok), None)
        if chosen:
            out[name] = chosen
    return out
