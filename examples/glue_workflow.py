"""A Glue-style workflow: crawler -> job -> crawler, two jobs in parallel, then a notification.

    lockgate run examples/glue_workflow.py:glue_workflow
    lockgate run examples/glue_workflow.py:glue_workflow --param day=2026-11-23
    lockgate run examples/glue_workflow.py:glue_workflow --param break_join=true   # the failure path

1. land_raw writes the day's feedback as CSV into the raw zone, a new partition
   ./lake/raw/feedback/day=<day>/, and the course reference set ./lake/reference/course_catalog.csv;
2. crawl_raw catalogs the raw zone: table raw_feedback gains the partition day=<day>;
3. to_curated (the job) reads the new partition through the catalog and writes it as Parquet
   into the curated zone ./lake/curated/feedback/day=<day>/;
4. crawl_curated adds the Parquet partition to the catalog (table feedback_curated);
5. in parallel: aggregate (ratings per course and day, ./lake/analytics/ratings_by_course.parquet)
   and join (the new data joined to the reference set, ./lake/analytics/enriched_feedback/day=<day>/);
6. notify_success (when all succeeded) or notify_failure (trigger rule one_failed: as soon as
   any step failed) publishes to the topic data-eng. Subscribe to receive it:
   `lockgate topics subscribe data-eng email:you@example.com` (see docs/notifications.md).

The same workflow as a state machine with a Parallel state: examples/glue_workflow.asl.json.
`lockgate catalog show feedback_curated` shows the catalogued partitions.
"""

from __future__ import annotations

import csv
import os
import random

from lockgate import pipeline, task
from lockgate.tasks import crawl, notify, query

TOPIC = "data-eng"
RAW = "lake/raw/feedback"
CURATED = "lake/curated/feedback"
COURSES = "lake/reference/course_catalog.csv"
REFERENCE = [
    ("DEA-C01", "Data Engineer Associate", "data"),
    ("SAA-C03", "Solutions Architect Associate", "architecture"),
    ("DVA-C02", "Developer Associate", "development"),
]


@task
def create_topic(name: str) -> str:
    """Make sure the topic the workflow notifies exists (creating it again changes nothing)."""
    from lockgate.notify.plugin import notifier_of
    from lockgate.runtime import default_runtime

    runtime = default_runtime()
    notifier_of(runtime).topics.create(name, runtime.clock())
    return name


@task
def land_raw(day: str, rows: int = 200) -> str:
    """Stand in for the ingestion: the day's feedback CSV in the raw zone, and the reference set."""
    rng = random.Random(day)
    os.makedirs(os.path.dirname(COURSES), exist_ok=True)
    with open(COURSES, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["course_id", "title", "domain"])
        writer.writerows(REFERENCE)
    folder = f"{RAW}/day={day}"
    os.makedirs(folder, exist_ok=True)
    path = f"{folder}/feedback.csv"
    with open(f"{folder}/.feedback.csv.part", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["feedback_id", "course_id", "rating", "comment"])
        for i in range(1, rows + 1):
            rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 3, 4])[0]
            writer.writerow([i, rng.choice(REFERENCE)[0], rating, rng.choice(["clear", "too fast", "ok", "great"])])
    os.replace(f"{folder}/.feedback.csv.part", path)
    return path


@pipeline
def glue_workflow(day: str = "2026-11-24", break_join: bool = False) -> object:
    topic = create_topic(TOPIC)
    landed = land_raw(day)
    crawled_raw = crawl.options(name="crawl_raw")(RAW, table="raw_feedback")
    curated = query.options(name="to_curated")(
        f"SELECT feedback_id, course_id, rating, comment FROM raw_feedback WHERE day = '{day}'",
        output=f"{CURATED}/day={day}/part-0.parquet",
    )
    crawled_curated = crawl.options(name="crawl_curated")(CURATED, table="feedback_curated")
    aggregated = query.options(name="aggregate")(
        "SELECT day, course_id, count(*) AS reviews, round(avg(rating), 2) AS mean_rating, "
        "count(*) FILTER (WHERE rating >= 4) AS positive, count(*) FILTER (WHERE rating <= 2) AS negative "
        "FROM feedback_curated GROUP BY day, course_id ORDER BY day, course_id",
        output="lake/analytics/ratings_by_course.parquet",
    )
    reference = "lake/reference/missing.csv" if break_join else COURSES
    joined = query.options(name="join")(
        f"SELECT f.*, c.title, c.domain FROM feedback_curated f JOIN read_csv('{reference}') c USING (course_id) "
        f"WHERE f.day = '{day}'",
        output=f"lake/analytics/enriched_feedback/day={day}/part-0.parquet",
    )
    landed >> crawled_raw >> curated >> crawled_curated >> [aggregated, joined]
    steps = [topic, landed, crawled_raw, curated, crawled_curated, aggregated, joined]
    succeeded = notify.options(name="notify_success")(
        TOPIC, f"glue_workflow {day} succeeded", f"The feedback of {day} is curated, aggregated and enriched."
    )
    failed = notify.options(name="notify_failure", trigger_rule="one_failed")(
        TOPIC, f"glue_workflow {day} FAILED", f"A step of the workflow for {day} failed: see `lockgate runs`."
    )
    steps >> succeeded
    steps >> failed
    return {"aggregate": aggregated, "join": joined, "notified": succeeded}
