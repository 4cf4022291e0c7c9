"""`lockgate catalog tables|show|history` and `lockgate query`, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lockgate.tasks import crawl


def lockgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def make_zone(root: Path, extra_column: bool = False) -> None:
    for day in ("2026-11-24", "2026-11-25"):
        data = {"id": [1, 2, 3], "sentiment": ["positive", "negative", "positive"]}
        if extra_column:
            data["channel"] = ["web", "app", "web"]
        (root / f"day={day}").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(data), root / f"day={day}" / "part-0.parquet")


def test_tables_show_history_and_query(tmp_path: Path) -> None:
    zone = tmp_path / "processed" / "feedback"
    make_zone(zone)
    crawl(str(zone))
    make_zone(zone, extra_column=True)
    crawl(str(zone))

    listed = lockgate("catalog", "tables", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["table"] == "default.feedback" and row["schema_version"] == 2 and row["partition_keys"] == ["day"]
    assert row["updated_at"].endswith("Z")

    shown = json.loads(lockgate("catalog", "show", "feedback", "--json").stdout)
    assert [p["values"] for p in shown["partitions"]] == [{"day": "2026-11-24"}, {"day": "2026-11-25"}]
    assert [c["name"] for c in shown["columns"]] == ["id", "sentiment", "channel", "day"]

    history = json.loads(lockgate("catalog", "history", "default.feedback", "--json").stdout)
    assert [(v["version"], v["added"]) for v in history] == [(1, ["id", "sentiment", "day"]), (2, ["channel"])]

    text = lockgate("catalog", "show", "feedback")
    assert text.returncode == 0 and "day=2026-11-25" in text.stdout and "channel" in text.stdout
    assert "v2" in lockgate("catalog", "history", "feedback").stdout
    assert "default.feedback" in lockgate("catalog", "tables").stdout

    sql = "SELECT sentiment, count(*) AS n FROM feedback GROUP BY sentiment ORDER BY sentiment"
    result = lockgate("query", sql, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"sentiment": "negative", "n": 2}, {"sentiment": "positive", "n": 4}]
    table = lockgate("query", sql)
    assert "positive" in table.stdout and "2 rows" in table.stdout
    out = lockgate("query", sql, "--output", str(tmp_path / "counts.csv"), "--json")
    assert json.loads(out.stdout) == {"uri": str(tmp_path / "counts.csv"), "rows": 2}


def test_errors_exit_2_with_a_message(tmp_path: Path, home: Path) -> None:
    nowhere = lockgate("catalog", "tables")
    assert nowhere.returncode == 2 and nowhere.stderr.startswith("error: no lockgate home here: ")
    assert not home.exists()  # reading creates nothing
    hello = Path(__file__).parents[2] / "examples" / "hello.py"
    assert lockgate("run", f"{hello}:hello", "--json").returncode == 0  # makes the home
    missing = lockgate("catalog", "show", "sales.nope")
    assert missing.returncode == 2 and "no table sales.nope in the catalog" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad = lockgate("query", "SELECT * FROM nowhere")
    assert bad.returncode == 2 and bad.stderr.startswith("error: query:")
    big = lockgate("query", "SELECT * FROM range(20)", "--max-rows", "10")
    assert big.returncode == 2 and "pass output=" in big.stderr
    empty = lockgate("catalog", "tables", "--json")
    assert empty.returncode == 0 and json.loads(empty.stdout) == []
