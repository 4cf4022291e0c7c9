"""The sentiment query through the `query` task against bare DuckDB, over 10 M rows of Parquet.

    python benchmarks/query.py               # 10 M rows (the figure in docs/lake.md)
    python benchmarks/query.py --rows 1000000

The data is a Hive-partitioned Parquet zone crawled into a catalog in a temporary lockgate
home. Each side opens a fresh DuckDB connection per query, as the task does; the task also
looks the table up in the catalog and lists its files. Sides alternate; the median counts.
Goal: task throughput >= 0.9 x bare DuckDB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SQL = (
    "SELECT sentiment, count(*) AS reviews, avg(rating) AS mean_rating "
    "FROM {table} GROUP BY sentiment ORDER BY sentiment"
)


def generate(zone: Path, rows: int, files: int = 10) -> None:
    """`files` partitions (one per day) of rows/files rows each."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(HERE))
    from _feedback_data import batch

    each = rows // files
    for n in range(files):
        folder = zone / f"day=2026-11-{10 + n:02d}"
        folder.mkdir(parents=True)
        with pq.ParquetWriter(folder / "part-0.parquet", batch(0, 1).schema, compression="zstd") as writer:
            for start in range(0, each, 1_000_000):
                writer.write_table(pa.Table.from_batches([batch(n * each + start, min(1_000_000, each - start))]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=15, help="queries per side (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as scratch:
        os.environ["LOCKGATE_HOME"] = str(Path(scratch) / "home")
        os.chdir(scratch)
        import duckdb

        from lockgate.tasks import crawl, query

        zone = Path(scratch) / "processed" / "feedback"
        started = time.perf_counter()
        generate(zone, args.rows)
        crawl(str(zone), table="feedback")
        print(f"generated and crawled {args.rows:,} rows in {time.perf_counter() - started:.1f} s")
        raw = f"read_parquet('{zone}/**/*.parquet', hive_partitioning = true)"

        def bare() -> list[tuple]:
            con = duckdb.connect()
            try:
                return con.sql(SQL.format(table=raw)).fetchall()
            finally:
                con.close()

        def task() -> list[dict]:
            return query(SQL.format(table="feedback"))

        expected = [tuple(row.values()) for row in task()]
        assert [r[:2] for r in bare()] == [r[:2] for r in expected], "the two sides disagree"
        assert sum(r[1] for r in expected) == args.rows
        times: dict[str, list[float]] = {"bare": [], "task": []}
        for _ in range(args.repeat):
            for name, side in (("bare", bare), ("task", task)):
                t0 = time.perf_counter()
                side()
                times[name].append(time.perf_counter() - t0)
        bare_s, task_s = statistics.median(times["bare"]), statistics.median(times["task"])
        ratio = bare_s / task_s
        print(f"bare DuckDB : median {bare_s * 1000:7.1f} ms  {args.rows / bare_s / 1e6:6.1f} M rows/s")
        print(f"query task  : median {task_s * 1000:7.1f} ms  {args.rows / task_s / 1e6:6.1f} M rows/s")
        print(f"throughput ratio task/bare: {ratio:.3f} (goal >= 0.9)")
        for row in expected:
            print(f"  {row[0]:<9} {row[1]:>10,}  mean rating {row[2]:.3f}")
        print("goal met" if ratio >= 0.9 else "GOAL MISSED")
        return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parent / "src"))
    sys.exit(main())
