"""Commands about the lake: `lockgate catalog tables|show|history` and `lockgate query`."""

from __future__ import annotations

from typing import Any

import typer

from lockgate import _json
from lockgate.cli import _output, app
from lockgate.cli._output import emit_json

JSON = typer.Option(False, "--json", help="Print one JSON document instead of tables.")

catalog_app = typer.Typer(help="The data catalog: tables crawled from the lake.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")


def _catalog() -> Any:
    from lockgate.catalog.store import Catalog

    _output.require_home()  # every command here only reads the catalog
    return Catalog.default()


@catalog_app.command("tables")
def tables(as_json: bool = JSON) -> None:
    """List the catalog's tables."""
    found = _catalog().tables()
    rows = [
        {
            "table": t.qualified,
            "format": t.format,
            "location": t.location,
            "partition_keys": t.partition_keys,
            "columns": len(t.columns),
            "schema_version": t.schema_version,
            "updated_at": _json.iso(t.updated_at),
        }
        for t in found
    ]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    table.add_column("table", no_wrap=True)
    table.add_column("format")
    table.add_column("location", overflow="fold")
    table.add_column("partitioned by", overflow="fold")
    table.add_column("columns")
    table.add_column("schema", no_wrap=True)
    table.add_column("updated_at", overflow="fold")
    for row in rows:
        table.add_row(
            row["table"],
            row["format"],
            row["location"],
            ", ".join(row["partition_keys"]),
            str(row["columns"]),
            f"v{row['schema_version']}",
            row["updated_at"] or "",
        )
    _output.console().print(table if rows else "no tables yet: crawl a location first")


@catalog_app.command("show")
def show(
    table: str = typer.Argument(..., help="db.table, or table in the default database."), as_json: bool = JSON
) -> None:
    """A table's location, columns and partitions."""
    found = _catalog().table(table)
    if as_json:
        emit_json(found.to_json())
        return
    from rich.table import Table

    out = _output.console()
    out.print(f"[bold]{found.qualified}[/]  {found.format} at {found.location}  (schema v{found.schema_version})")
    columns = Table(title="columns", title_justify="left")
    for name in ("name", "type", "nullable", "partition key"):
        columns.add_column(name)
    for col in found.columns:
        columns.add_row(
            col["name"], col["type"], "yes" if col.get("nullable") else "no", "yes" if col.get("partition") else ""
        )
    out.print(columns)
    if found.partitions:
        parts = Table(title=f"partitions ({len(found.partitions)})", title_justify="left")
        for name in ("values", "files", "rows", "location"):
            parts.add_column(name)
        for p in found.partitions[:200]:
            values = "/".join(f"{k}={v}" for k, v in p.values.items())
            parts.add_row(values, str(p.file_count), "" if p.row_count is None else str(p.row_count), p.location)
        out.print(parts)


@catalog_app.command("history")
def history(
    table: str = typer.Argument(..., help="db.table, or table in the default database."), as_json: bool = JSON
) -> None:
    """A table's schema versions, oldest first, with what changed at each."""
    versions = _catalog().history(table)
    rows = []
    previous: dict[str, str] = {}
    for version in versions:
        current = {c["name"]: c["type"] for c in version.columns}
        rows.append(
            {
                **version.to_json(),
                "added": [n for n in current if n not in previous],
                "removed": [n for n in previous if n not in current],
                "changed": [n for n in current if n in previous and previous[n] != current[n]],
            }
        )
        previous = current
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    out = Table()
    for name in ("version", "created_at", "columns", "changes"):
        out.add_column(name)
    for row in rows:
        changes = [f"+{n}" for n in row["added"]] if row["version"] > 1 else []
        changes += [f"-{n}" for n in row["removed"]] + [f"~{n}" for n in row["changed"]]
        out.add_row(f"v{row['version']}", row["created_at"], str(len(row["columns"])), " ".join(changes))
    _output.console().print(out)


@app.command("query")
def query(
    sql: str = typer.Argument(..., help="SQL; catalog tables are database.table, or table in default."),
    output: str | None = typer.Option(None, "--output", "-o", help="Write the rows to this URI instead."),
    fmt: str | None = typer.Option(None, "--format", help="parquet, csv, json or jsonl for --output."),
    max_rows: int = typer.Option(
        10_000, "--max-rows", min=1, help="Refuse results larger than this (without --output)."
    ),
    as_json: bool = JSON,
) -> None:
    """Run SQL over the lake with DuckDB and print the rows."""
    from lockgate.tasks.query import query as run_query

    result = run_query(sql, output=output, format=fmt, max_rows=max_rows)
    if as_json:
        emit_json(result)
        return
    out = _output.console()
    if output is not None:
        out.print(f"{result['rows']} rows written to {result['uri']}")
        return
    from rich.table import Table

    table = Table()
    names = list(result[0]) if result else []
    for name in names:
        table.add_column(name)
    for row in result:
        table.add_row(*("" if row[n] is None else str(row[n]) for n in names))
    out.print(table)
    out.print(f"{len(result)} row{'s' if len(result) != 1 else ''}")
