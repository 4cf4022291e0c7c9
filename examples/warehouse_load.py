"""Load enriched feedback from the lake into a SQL warehouse, then count it by sentiment.

    lockgate run examples/warehouse_load.py:warehouse_load
    lockgate run examples/warehouse_load.py:warehouse_load -p warehouse=postgresql+psycopg://user@host/db

`warehouse` is a SQLAlchemy URL or the name of a `[connections.NAME]` in lockgate.toml; by
default a SQLite file in the current folder. The first step writes a small enriched dataset
(a stand-in for the enrichment pipeline's output) so the example runs on its own. To load what
examples/feedback_daily.py enriched with Spark instead:

    lockgate run examples/feedback_daily.py:feedback_daily
    lockgate run examples/warehouse_load.py:warehouse_load -p lake=lake/daily/enriched -p stand_in=false
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lockgate import pipeline, task
from lockgate.tasks import sql_copy


@task
def enriched_feedback(folder: str) -> str:
    """Write one day of enriched feedback as Parquet (a stand-in for the enrichment step's output)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lockgate.tasks._fs import filesystem

    fs, path = filesystem(folder)
    fs.makedirs(path, exist_ok=True)
    start = dt.datetime(2024, 5, 1, 9, 0, tzinfo=dt.UTC)
    rows = []
    for n in range(1, 61):
        rating = 1 + (n * 7) % 5
        sentiment = "positive" if rating >= 4 else "neutral" if rating == 3 else "negative"
        rows.append(
            {
                "feedback_id": n,
                "received_at": start + dt.timedelta(minutes=7 * n),
                "rating": rating,
                "sentiment": sentiment,
                "text": f"feedback number {n}",
            }
        )
    with fs.open(f"{path}/day-2024-05-01.parquet", "wb") as handle:
        pq.write_table(pa.Table.from_pylist(rows), handle)
    return folder


@task
def count_by_sentiment(warehouse: str, loaded: dict[str, Any]) -> dict[str, Any]:
    """Rows and mean rating per sentiment, as the warehouse computes them."""
    import sqlalchemy as sa

    from lockgate.tasks.sql_copy import endpoint

    engine = sa.create_engine(endpoint(warehouse, "warehouse").address)
    try:
        with engine.connect() as conn:
            result = conn.execute(
                sa.text(
                    "SELECT sentiment, COUNT(*) AS n, AVG(rating) AS mean_rating"
                    " FROM feedback GROUP BY sentiment ORDER BY sentiment"
                )
            )
            counts = {row.sentiment: {"rows": row.n, "mean_rating": round(float(row.mean_rating), 2)} for row in result}
    finally:
        engine.dispose()
    print(f"loaded {loaded['rows']} rows; by sentiment: {counts}")
    return counts


@pipeline
def warehouse_load(
    warehouse: str = "sqlite:///warehouse.db", lake: str = "lake/enriched", stand_in: bool = True
) -> dict[str, Any]:
    """Lake -> warehouse table `feedback` (replaced on each run) -> counts by sentiment."""
    data = enriched_feedback(lake) if stand_in else lake
    loaded = sql_copy(data, warehouse, table="feedback", mode="replace")
    return count_by_sentiment(warehouse, loaded)
