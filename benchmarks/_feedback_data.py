"""Synthetic customer feedback for the benchmarks, generated column-wise with Arrow (fast)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

SENTIMENTS = pa.array(["negative", "neutral", "positive"])
COMMENTS = pa.array(
    [
        "fast delivery, would order again",
        "the support team answered within minutes",
        "arrived broken and the box was wet",
        "as expected, nothing special",
        "wrong size, sent it back",
        "great value for the price",
        "took two weeks longer than promised",
        "works as described",
    ]
)


def batch(start: int, rows: int) -> pa.RecordBatch:
    """Rows start..start+rows: id, received_at, customer, rating, sentiment, comment, score."""
    ids = pa.array(range(start, start + rows), pa.int64())
    draw = pc.random(rows)
    rating = pc.add(pc.cast(pc.floor(pc.multiply(draw, 5)), pa.int64()), 1)
    sentiment_index = pc.if_else(pc.greater_equal(rating, 4), 2, pc.if_else(pc.equal(rating, 3), 1, 0))
    seconds = pc.add(
        pc.multiply(pc.cast(pc.floor(pc.multiply(pc.random(rows), 30 * 86400)), pa.int64()), 1), 1_795_000_000
    )
    received_at = pc.cast(pc.multiply(seconds, 1_000_000), pa.timestamp("us", tz="UTC"))
    customer = pc.binary_join_element_wise("C", pc.cast(pc.modulo(ids, 100_000), pa.string()), "")
    comment = pc.take(COMMENTS, pc.cast(pc.floor(pc.multiply(pc.random(rows), len(COMMENTS))), pa.int64()))
    score = pc.round(pc.multiply(pc.random(rows), 100), 3)
    return pa.RecordBatch.from_arrays(
        [ids, received_at, customer, rating, pc.take(SENTIMENTS, sentiment_index), comment, score],
        names=["id", "received_at", "customer", "rating", "sentiment", "comment", "score"],
    )
