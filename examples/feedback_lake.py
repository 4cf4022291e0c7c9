"""The first lake pipeline: customer feedback lands as CSV, is checked, stored as Parquet,
catalogued, and summarised.

    lockgate run examples/feedback_lake.py:feedback_lake

It writes everything under ./lake in the current folder: landing/ (the CSV, as a partner
would drop it, with its validation report), quarantine/ (where a bad file would be copied),
processed/feedback/ (Parquet, partitioned by day), and registers the table `feedback` in the
catalog (`lockgate catalog show feedback`). The run's output is the sentiment summary.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random

from lockgate import pipeline, task
from lockgate.tasks import crawl, query, to_parquet, validate

LAKE = "lake"
LANDED = f"{LAKE}/landing/feedback.csv"
PROCESSED = f"{LAKE}/processed/feedback"

SCHEMA = {
    "fields": [
        {"name": "feedback_id", "type": "integer", "constraints": {"required": True, "unique": True}},
        {"name": "received_date", "type": "date", "constraints": {"required": True}},
        {"name": "customer", "type": "string"},
        {"name": "rating", "type": "integer", "constraints": {"required": True, "minimum": 1, "maximum": 5}},
        {"name": "sentiment", "type": "string", "constraints": {"enum": ["positive", "neutral", "negative"]}},
        {"name": "comment", "type": "string"},
    ]
}
RULES = [
    {"check": "row_count", "min": 1},
    {"column": "customer", "check": "regex", "pattern": "C[0-9]{4}"},
]
COMMENTS = {
    "positive": ["fast delivery", "great support", "works as promised"],
    "neutral": ["ok", "as expected", "fine, a bit slow"],
    "negative": ["arrived broken", "no answer from support", "wrong size"],
}


@task
def land_feedback(path: str = LANDED, rows: int = 240, seed: int = 7) -> str:
    """Stand in for a partner's upload: write a feedback CSV into the landing folder."""
    rng = random.Random(seed)
    first_day = dt.date(2026, 11, 20)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.part"
    with open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["feedback_id", "received_date", "customer", "rating", "sentiment", "comment"])
        for n in range(1, rows + 1):
            rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 3, 4])[0]
            sentiment = "positive" if rating >= 4 else "neutral" if rating == 3 else "negative"
            day = first_day + dt.timedelta(days=rng.randrange(3))
            writer.writerow(
                [n, day.isoformat(), f"C{rng.randrange(10000):04d}", rating, sentiment, rng.choice(COMMENTS[sentiment])]
            )
    os.replace(tmp, path)  # the file appears whole, as a finished upload does
    return path


@pipeline
def feedback_lake() -> object:
    landed = land_feedback()
    checked = validate(LANDED, format="csv", schema=SCHEMA, rules=RULES, quarantine=f"{LAKE}/quarantine")
    converted = to_parquet(LANDED, PROCESSED, partition_by="received_date", mode="overwrite")
    catalogued = crawl(PROCESSED, table="feedback")
    summary = query(
        "SELECT sentiment, count(*) AS reviews, round(avg(rating), 2) AS mean_rating "
        "FROM feedback GROUP BY sentiment ORDER BY sentiment"
    )
    landed >> checked >> converted >> catalogued >> summary
    return summary
