"""crawl: zones scanned into the catalog, with partitions and schema versions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lockgate import UsageError
from lockgate.catalog import Catalog
from lockgate.tasks import crawl

UTC = dt.UTC


def part(folder: Path, name: str, table: pa.Table) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return folder / name


def events(n: int, start: int = 0) -> pa.Table:
    at = [dt.datetime(2026, 11, 24, 12, tzinfo=UTC) + dt.timedelta(minutes=i) for i in range(start, start + n)]
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "at": pa.array(at, pa.timestamp("us", tz="UTC")),
            "rating": pa.array([float(i % 5) for i in range(n)]),
        }
    )


def test_a_partitioned_zone_is_registered_with_types_and_partitions(tmp_path: Path) -> None:
    zone = tmp_path / "processed" / "events"
    part(zone / "day=2026-11-24" / "region=eu", "part-0.parquet", events(10))
    part(zone / "day=2026-11-24" / "region=us", "part-0.parquet", events(5))
    part(zone / "day=2026-11-25" / "region=eu", "part-0.parquet", events(7))
    part(zone / "day=2026-11-25" / "region=eu", "part-1.parquet", events(3))
    result = crawl(str(zone))
    assert (result["database"], result["table"], result["format"]) == ("default", "events", "parquet")
    assert result["partitions_added"] == 3 and result["schema_version"] == 1
    columns = {c["name"]: c for c in result["columns"]}
    assert columns["at"]["type"] == "timestamp[us, tz=UTC]" and not columns["at"]["partition"]
    assert [c["name"] for c in result["columns"] if c["partition"]] == ["day", "region"]
    table = Catalog.default().table("events")
    assert table.partition_keys == ["day", "region"] and table.location == str(zone)
    counts = {tuple(p.values.values()): (p.file_count, p.row_count) for p in table.partitions}
    assert counts == {("2026-11-24", "eu"): (1, 10), ("2026-11-24", "us"): (1, 5), ("2026-11-25", "eu"): (2, 10)}


def test_a_recrawl_adds_only_new_partitions_and_versions_only_changed_schemas(tmp_path: Path) -> None:
    zone = tmp_path / "events"
    part(zone / "day=1", "a.parquet", events(4))
    assert crawl(str(zone), database="raw")["schema_version"] == 1
    again = crawl(str(zone), database="raw")
    assert (again["partitions_added"], again["schema_version"], again["schema_changed"]) == (0, 1, False)
    part(zone / "day=2", "a.parquet", events(4))
    grown = crawl(str(zone), database="raw")
    assert (grown["partitions_added"], grown["schema_version"]) == (1, 1)
    part(zone / "day=3", "a.parquet", events(4).append_column("channel", pa.array(["web"] * 4)))
    changed = crawl(str(zone), database="raw")
    assert (changed["partitions_added"], changed["schema_version"], changed["schema_changed"]) == (1, 2, True)
    history = Catalog.default().history("raw.events")
    assert [v.version for v in history] == [1, 2]
    assert "channel" not in [c["name"] for c in history[0].columns]
    assert "channel" in [c["name"] for c in history[1].columns]
    import shutil

    shutil.rmtree(zone / "day=1")
    shrunk = crawl(str(zone), database="raw")
    assert shrunk["partitions_removed"] == 1 and len(Catalog.default().table("raw.events").partitions) == 2


def test_csv_and_json_zones(tmp_path: Path) -> None:
    csv_zone = tmp_path / "landing" / "feedback"
    (csv_zone / "day=2026-11-24").mkdir(parents=True)
    (csv_zone / "day=2026-11-24" / "a.csv").write_text("id,rating\n1,5\n2,3\n")
    (csv_zone / "day=2026-11-24" / "a.csv.report.json").write_text("{}")
    result = crawl(str(csv_zone), table="feedback_raw")
    assert result["format"] == "csv" and result["table"] == "feedback_raw"
    assert [(c["name"], c["type"]) for c in result["columns"]] == [
        ("id", "int64"),
        ("rating", "int64"),
        ("day", "string"),
    ]
    json_zone = tmp_path / "clicks"
    json_zone.mkdir()
    (json_zone / "a.jsonl").write_text("".join(json.dumps({"user": f"u{i}", "n": i}) + "\n" for i in range(3)))
    assert [c["name"] for c in crawl(str(json_zone))["columns"]] == ["user", "n"]


def test_bad_crawls_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such folder"):
        crawl(str(tmp_path / "nope"))
    (tmp_path / "zone").mkdir()
    (tmp_path / "zone" / "a.parquet").write_bytes(b"")
    with pytest.raises(UsageError, match="table 'bad-name'"):
        crawl(str(tmp_path / "zone"), table="bad-name")


def test_an_s3_zone(s3: str, tmp_path: Path) -> None:
    import boto3

    from lockgate.tasks._fs import filesystem

    boto3.client("s3", endpoint_url=s3).create_bucket(Bucket="crawl-lake")
    fs, _ = filesystem("s3://")
    local = part(tmp_path, "x.parquet", events(6))
    fs.put_file(str(local), "crawl-lake/processed/events/day=2026-11-24/part-0.parquet")
    fs.put_file(str(local), "crawl-lake/processed/events/day=2026-11-25/part-0.parquet")
    result = crawl("s3://crawl-lake/processed/events")
    assert result["partitions_added"] == 2
    table = Catalog.default().table("default.events")
    assert table.location == "s3://crawl-lake/processed/events"
    assert [p.location for p in table.partitions] == [
        "s3://crawl-lake/processed/events/day=2026-11-24",
        "s3://crawl-lake/processed/events/day=2026-11-25",
    ]
    assert [p.row_count for p in table.partitions] == [6, 6]


def test_the_catalog_on_postgresql(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid

    import sqlalchemy as sa

    schema = f"lake_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        monkeypatch.setenv("LOCKGATE_DATABASE_URL", f"{postgres_url}?options=-csearch_path%3D{schema}")
        zone = tmp_path / "events"
        part(zone / "day=1", "a.parquet", events(4))
        assert crawl(str(zone))["partitions_added"] == 1
        part(zone / "day=2", "a.parquet", events(4).append_column("channel", pa.array(["web"] * 4)))
        again = crawl(str(zone))
        assert (again["partitions_added"], again["schema_version"]) == (1, 2)
        assert Catalog.default().engine.dialect.name == "postgresql"
        table = Catalog.default().table("events")
        assert [p.values for p in table.partitions] == [{"day": "1"}, {"day": "2"}]
        assert [v.version for v in Catalog.default().history("events")] == [1, 2]
    finally:
        from lockgate.runtime import default_runtime

        default_runtime().store.engine.dispose()  # type: ignore[attr-defined]
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
