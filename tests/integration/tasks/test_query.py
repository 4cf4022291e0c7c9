"""query: DuckDB over catalog tables and raw URIs, locally and on S3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lockgate import UsageError
from lockgate.tasks import crawl, query

SENTIMENTS = ["positive", "neutral", "negative"]


def feedback(n: int, day: str) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "rating": pa.array([1 + i % 5 for i in range(n)], pa.int64()),
            "sentiment": [SENTIMENTS[i % 3] for i in range(n)],
            "price": pa.array([f"{i}.25" for i in range(n)]).cast(pa.decimal128(10, 2)),
        }
    )


def zone(root: Path) -> Path:
    for day, n in (("2026-11-24", 30), ("2026-11-25", 15)):
        (root / f"day={day}").mkdir(parents=True, exist_ok=True)
        pq.write_table(feedback(n, day), root / f"day={day}" / "part-0.parquet")
    return root


def test_catalog_tables_by_bare_name_default_and_database_name(tmp_path: Path) -> None:
    crawl(str(zone(tmp_path / "processed" / "feedback")))
    crawl(str(tmp_path / "processed" / "feedback"), table="fb", database="sales")
    sql = "SELECT sentiment, count(*) AS n, avg(rating) AS mean FROM {} GROUP BY sentiment ORDER BY sentiment"
    expected = [
        {"sentiment": "negative", "n": 15, "mean": pytest.approx(3.0)},
        {"sentiment": "neutral", "n": 15, "mean": pytest.approx(3.0)},
        {"sentiment": "positive", "n": 15, "mean": pytest.approx(3.0)},
    ]
    assert query(sql.format("feedback")) == expected
    assert query(sql.format("default.feedback")) == expected
    assert query(sql.format("sales.fb")) == expected
    by_day = query("SELECT day, count(*) AS n FROM feedback GROUP BY day ORDER BY day")
    assert [(r["day"], r["n"]) for r in by_day] == [("2026-11-24", 30), ("2026-11-25", 15)]


def test_values_come_back_json_safe(tmp_path: Path) -> None:
    crawl(str(zone(tmp_path / "feedback")))
    row = query(
        "SELECT sum(id)::HUGEINT AS big, sum(price) AS money, max(price) AS top, DATE '2026-11-24' AS d, "
        "TIMESTAMPTZ '2026-11-24 12:00:00+02' AS t, 'nan'::DOUBLE AS nan FROM feedback"
    )[0]
    assert row == {
        "big": sum(range(30)) + sum(range(15)),
        "money": pytest.approx(sum(i + 0.25 for i in range(30)) + sum(i + 0.25 for i in range(15))),
        "top": 29.25,
        "d": "2026-11-24",
        "t": "2026-11-24T10:00:00Z",
        "nan": None,
    }
    assert isinstance(row["big"], int)
    json.dumps(row, allow_nan=False)


def test_large_results_are_refused_without_an_output(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"more than 100 rows; pass output="):
        query("SELECT * FROM range(101)", max_rows=100)
    assert len(query("SELECT * FROM range(100)", max_rows=100)) == 100


@pytest.mark.parametrize("name", ["out.parquet", "out.csv", "out.json", "out.jsonl"])
def test_results_are_written_to_a_uri(tmp_path: Path, name: str) -> None:
    crawl(str(zone(tmp_path / "feedback")))
    dest = tmp_path / "results" / name
    result = query("SELECT id, sentiment, price FROM feedback ORDER BY day, id", output=str(dest))
    assert result == {"uri": str(dest), "rows": 45}
    if name.endswith(".parquet"):
        assert pq.read_table(dest).num_rows == 45
    elif name.endswith(".csv"):
        with dest.open() as handle:
            assert len(list(csv.DictReader(handle))) == 45
    elif name.endswith(".jsonl"):
        assert json.loads(dest.read_text().splitlines()[1]) == {"id": 1, "sentiment": "neutral", "price": 1.25}
    else:
        assert len(json.loads(dest.read_text())) == 45
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(".")]


def test_raw_uris_without_the_catalog(tmp_path: Path) -> None:
    pq.write_table(feedback(12, "x"), tmp_path / "loose.parquet")
    rows = query(f"SELECT count(*) AS n FROM read_parquet('{tmp_path / 'loose.parquet'}')")
    assert rows == [{"n": 12}]


def test_bad_sql_and_bad_outputs_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="nope"):
        query("SELECT * FROM nope")
    with pytest.raises(UsageError, match="syntax error"):
        query("SELEC 1")
    with pytest.raises(UsageError, match="cannot tell the format"):
        query("SELECT 1", output=str(tmp_path / "out.xlsx"))
    with pytest.raises(UsageError, match="sql is empty"):
        query("  ")


def test_s3_tables_and_s3_uris_read_through_the_registered_filesystem(s3: str, tmp_path: Path) -> None:
    import boto3

    from lockgate.tasks._fs import filesystem

    boto3.client("s3", endpoint_url=s3).create_bucket(Bucket="query-lake")
    fs, _ = filesystem("s3://")
    local = zone(tmp_path / "local")
    for path in local.rglob("*.parquet"):
        fs.put_file(str(path), f"query-lake/feedback/{path.relative_to(local)}")
    crawl("s3://query-lake/feedback", table="feedback")
    assert query("SELECT count(*) AS n FROM feedback") == [{"n": 45}]
    raw = query("SELECT count(*) AS n FROM read_parquet('s3://query-lake/feedback/day=2026-11-25/part-0.parquet')")
    assert raw == [{"n": 15}]
    written = query("SELECT * FROM feedback WHERE rating = 5", output="s3://query-lake/results/fives.parquet")
    assert written == {"uri": "s3://query-lake/results/fives.parquet", "rows": 9}
    assert query("SELECT count(*) AS n FROM read_parquet('s3://query-lake/results/fives.parquet')") == [{"n": 9}]


def test_a_table_whose_files_are_gone_does_not_break_other_queries(tmp_path: Path) -> None:
    import shutil

    crawl(str(zone(tmp_path / "sentiment")))
    shutil.rmtree(tmp_path / "sentiment")
    pq.write_table(feedback(6, "x"), tmp_path / "loose.parquet")
    rows = query(f"SELECT sentiment, count(*) AS n FROM '{tmp_path / 'loose.parquet'}' GROUP BY 1 ORDER BY 1")
    assert [r["n"] for r in rows] == [2, 2, 2]
    with pytest.raises(UsageError, match="sentiment"):
        query("SELECT * FROM sentiment")


def test_csv_and_json_lines_tables(tmp_path: Path) -> None:
    landing = tmp_path / "landing" / "feedback" / "day=2026-11-24"
    landing.mkdir(parents=True)
    (landing / "a.csv").write_text("id,rating\n1,5\n2,3\n")
    (landing / "a.csv.report.json").write_text('{"valid": true}')
    crawl(str(tmp_path / "landing" / "feedback"), table="feedback_raw")
    assert query("SELECT day, sum(rating) AS total FROM feedback_raw GROUP BY day") == [
        {"day": "2026-11-24", "total": 8}
    ]
    clicks = tmp_path / "clicks"
    clicks.mkdir()
    (clicks / "a.jsonl").write_text("".join(json.dumps({"user": f"u{i % 2}", "n": i}) + "\n" for i in range(4)))
    crawl(str(clicks))
    assert query("SELECT user, sum(n) AS n FROM clicks GROUP BY user ORDER BY user") == [
        {"user": "u0", "n": 2},
        {"user": "u1", "n": 4},
    ]


def test_runtime_errors_name_the_query_and_say_whether_a_retry_may_help(tmp_path: Path) -> None:
    from lockgate import TaskError

    with pytest.raises(TaskError, match="query: ") as missing:
        query(f"SELECT * FROM read_parquet('{tmp_path / 'nope.parquet'}')")
    assert missing.value.retryable is True
    with pytest.raises(TaskError, match="query: ") as bad_cast:
        query("SELECT 'abc'::INTEGER AS n")
    assert bad_cast.value.retryable is False and bad_cast.value.error_name == "lockgate.QueryFailed"
