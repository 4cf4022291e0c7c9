"""The feedback pipeline: read a day's course feedback, score each comment, load the results.

lockgate run examples/feedback.py:feedback --param day=2026-11-25
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lockgate import Retry, pipeline, task

log = logging.getLogger(__name__)

COMMENTS = [
    ("Clear explanations, great labs", 5),
    ("Too fast in the Spark module", 2),
    ("Good examples but the audio was poor", 3),
    ("Excellent course, passed the exam", 5),
    ("Confusing quiz questions", 1),
]
POSITIVE = {"clear", "great", "good", "excellent", "passed"}
NEGATIVE = {"fast", "poor", "confusing"}


@task(retry=Retry(max_attempts=4, interval=10, backoff_rate=1.5, max_delay=60, jitter="FULL"), timeout=300)
def extract(day: str) -> list[dict]:
    """The day's feedback rows (generated here; a real pipeline reads the landing zone)."""
    rows = [{"day": day, "id": i, "comment": c, "rating": r} for i, (c, r) in enumerate(COMMENTS)]
    log.info("extracted %d rows for %s", len(rows), day)
    return rows


@task
def score(row: dict) -> dict:
    words = {w.strip(",.").lower() for w in row["comment"].split()}
    balance = len(words & POSITIVE) - len(words & NEGATIVE)
    sentiment = "positive" if balance > 0 else "negative" if balance < 0 else "neutral"
    return {**row, "sentiment": sentiment}


@task
def load(rows: list[dict]) -> int:
    """Write the scored rows as JSON lines under ./warehouse/feedback/ (atomically, by day)."""
    folder = Path("warehouse/feedback")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{rows[0]['day'] if rows else 'empty'}.jsonl"
    tmp = target.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(target)
    print(f"loaded {len(rows)} rows into {target}")
    return len(rows)


@pipeline
def feedback(day: str = "2026-11-24"):
    return load(score.map(extract(day)))
