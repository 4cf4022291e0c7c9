"""to_parquet against bare pyarrow on one large CSV: throughput ratio and the task's peak memory.

    python benchmarks/to_parquet.py                 # a 1 GB CSV (the figure in docs/lake.md)
    python benchmarks/to_parquet.py --size-mb 100   # a quick run

Both conversions read the same CSV with the same block size and write Parquet with zstd. Each
runs in a fresh subprocess, which reports its own time and peak RSS (getrusage); the best of
`--rounds` runs counts. Goals: task throughput >= 0.9 x bare pyarrow, task peak RSS <= 512 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

BARE = """
import json, resource, sys, time
import pyarrow.csv as pcsv, pyarrow.parquet as pq
source, dest, block = sys.argv[1], sys.argv[2], int(sys.argv[3])
started = time.perf_counter()
reader = pcsv.open_csv(source, read_options=pcsv.ReadOptions(block_size=block))
rows = 0
with pq.ParquetWriter(dest, reader.schema, compression="zstd") as writer:
    for batch in reader:
        writer.write_batch(batch)
        rows += batch.num_rows
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": rows, "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

TASK = """
import json, resource, sys, time
from lockgate.tasks import to_parquet
source, dest = sys.argv[1], sys.argv[2]
started = time.perf_counter()
result = to_parquet(source, dest)
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "rows": result["rows"], "peak_rss_kb": peak}))
"""


def generate(path: Path, size_mb: int) -> int:
    """Write a CSV of about `size_mb` megabytes; returns its row count."""
    import pyarrow.csv as pcsv

    sys.path.insert(0, str(HERE))
    from _feedback_data import batch

    target = size_mb * 1024 * 1024
    rows = 0
    with path.open("wb") as handle:
        first = True
        while handle.tell() < target:
            chunk = batch(rows, 200_000)
            pcsv.write_csv(chunk, handle, write_options=pcsv.WriteOptions(include_header=first))
            first = False
            rows += chunk.num_rows
    return rows


def measure(script: str, *args: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"benchmark subprocess failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the generated CSV (default 1024)")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each side; the best counts (default 2)")
    parser.add_argument("--dir", default=None, help="folder for the data (default: a temporary folder)")
    args = parser.parse_args()
    from lockgate.tasks._readers import BLOCK_BYTES

    with tempfile.TemporaryDirectory(prefix="lockgate-bench-", dir=args.dir) as scratch:
        folder = Path(scratch)
        source = folder / "feedback.csv"
        started = time.perf_counter()
        rows = generate(source, args.size_mb)
        size = source.stat().st_size
        print(f"generated {size / 1e6:.0f} MB CSV, {rows:,} rows in {time.perf_counter() - started:.1f} s")
        bare, task = [], []
        for n in range(args.rounds):
            bare.append(measure(BARE, str(source), str(folder / f"bare-{n}.parquet"), str(BLOCK_BYTES)))
            task.append(measure(TASK, str(source), str(folder / f"task-{n}.parquet")))
            (folder / f"bare-{n}.parquet").unlink()
            (folder / f"task-{n}.parquet").unlink()
        assert all(r["rows"] == rows for r in bare + task), "row counts differ"
        best_bare = min(r["seconds"] for r in bare)
        best_task = min(r["seconds"] for r in task)
        rss_task = max(r["peak_rss_kb"] for r in task) / 1024
        rss_bare = max(r["peak_rss_kb"] for r in bare) / 1024
        ratio = best_bare / best_task
        print(f"bare pyarrow : {best_bare:6.2f} s  {size / 1e6 / best_bare:7.1f} MB/s  peak RSS {rss_bare:6.0f} MB")
        print(f"to_parquet   : {best_task:6.2f} s  {size / 1e6 / best_task:7.1f} MB/s  peak RSS {rss_task:6.0f} MB")
        print(f"throughput ratio task/bare: {ratio:.3f} (goal >= 0.9)")
        print(f"task peak RSS: {rss_task:.0f} MB (goal <= 512 MB)")
        ok = ratio >= 0.9 and rss_task <= 512
        print("goals met" if ok else "GOALS MISSED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(SRC))
    sys.exit(main())
