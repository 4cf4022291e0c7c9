"""The second feedback pipeline: every day at 06:30 UTC, check that the whole day's feedback
was received, then enrich it with a Spark job that joins it to the course reference data.

    lockgate run examples/feedback_daily.py:feedback_daily
    lockgate run examples/feedback_daily.py:feedback_daily --param logical_date=2026-11-24T06:30:00+00:00

Under `lockgate serve --pipelines examples/` the Cron trigger starts one run a day and passes
the slot as `logical_date`; by hand it defaults to one fixed day. The run processes the day
before its slot (the feedback of 2026-11-24 for the 2026-11-25 06:30 slot).

Each course sends one feedback file a day into ./lake/daily/feedback/<day>/<course>.csv.
The steps:

1. land_day: a stand-in for the partners: writes the day's files and the reference data
   (./lake/reference/courses.csv) so the example runs on its own;
2. check_received: every course of the reference data has a file for the day (else the run
   fails naming the missing courses);
3. validate (one step per file): columns, types and ratings 1-5;
4. spark_submit: examples/spark/enrich_feedback.py (PySpark, local mode) joins the feedback
   with the courses and writes ./lake/daily/enriched/received_date=<day>/ as Parquet;
5. query: reviews and mean rating per domain and sentiment, the run's output.

The third pipeline (examples/warehouse_load.py) loads enriched feedback into a warehouse.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import random

from lockgate import pipeline, task
from lockgate.tasks import query, spark_submit, validate
from lockgate.triggers import Cron

ENRICH_APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spark", "enrich_feedback.py")
DAILY = "lake/daily/feedback"
COURSES = "lake/reference/courses.csv"
ENRICHED = "lake/daily/enriched"
REFERENCE = [
    ("DEA-C01", "Data Engineer Associate", "data", "associate"),
    ("SAA-C03", "Solutions Architect Associate", "architecture", "associate"),
    ("DVA-C02", "Developer Associate", "development", "associate"),
    ("DOP-C02", "DevOps Engineer Professional", "operations", "professional"),
]
SPARK_CONF = {  # a small job in local mode: one shuffle partition, no web UI, a JVM that starts fast
    "spark.sql.shuffle.partitions": "1",
    "spark.ui.enabled": "false",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}
SCHEMA = {
    "fields": [
        {"name": "feedback_id", "type": "integer", "constraints": {"required": True, "unique": True}},
        {"name": "received_date", "type": "date", "constraints": {"required": True}},
        {"name": "course_id", "type": "string", "constraints": {"required": True}},
        {"name": "rating", "type": "integer", "constraints": {"required": True, "minimum": 1, "maximum": 5}},
        {"name": "comment", "type": "string"},
    ]
}


def previous_day(logical_date: str) -> str:
    """The day whose feedback a slot processes: the day before the slot's date."""
    return (dt.datetime.fromisoformat(logical_date).date() - dt.timedelta(days=1)).isoformat()


@task
def land_day(day: str) -> list[str]:
    """Stand in for the partners: one feedback file per course for `day`, and the reference data."""
    rng = random.Random(day)
    os.makedirs(os.path.dirname(COURSES), exist_ok=True)
    with open(COURSES, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["course_id", "title", "domain", "level"])
        writer.writerows(REFERENCE)
    folder = os.path.join(DAILY, day)
    os.makedirs(folder, exist_ok=True)
    landed = []
    for c, (course, *_) in enumerate(REFERENCE):
        path = os.path.join(folder, f"{course}.csv")
        with open(path, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["feedback_id", "received_date", "course_id", "rating", "comment"])
            for i in range(rng.randrange(20, 40)):
                rating = rng.choices([1, 2, 3, 4, 5], weights=[1, 1, 2, 3, 4])[0]
                writer.writerow([c * 1000 + i, day, course, rating, rng.choice(["clear", "too long", "ok", "great"])])
        landed.append(path)
    return landed


@task
def check_received(day: str) -> list[str]:
    """Every course of the reference data sent its file for `day`; returns the files."""
    from lockgate import TaskError

    with open(COURSES, newline="") as handle:
        courses = [row["course_id"] for row in csv.DictReader(handle)]
    files = {course: os.path.join(DAILY, day, f"{course}.csv") for course in courses}
    missing = sorted(course for course, path in files.items() if not os.path.exists(path))
    if missing:
        raise TaskError(f"feedback of {day} not received from: {', '.join(missing)}", error="Feedback.Incomplete")
    print(f"all {len(files)} courses sent their feedback for {day}")
    return list(files.values())


@pipeline(triggers=[Cron("30 6 * * *", timezone="UTC")], max_active_runs=1)
def feedback_daily(logical_date: str = "2026-11-25T06:30:00+00:00", land: bool = True) -> object:
    day = previous_day(logical_date)
    received = check_received(day)
    if land:  # the stand-in partners deliver before the check
        land_day(day) >> received
    checked = validate.map(received, format="csv", schema=SCHEMA, quarantine="lake/quarantine")
    output = f"{ENRICHED}/received_date={day}"
    enriched = spark_submit(
        ENRICH_APP, [os.path.join(DAILY, day), COURSES, output], master="local[1]", conf=SPARK_CONF, timeout=300
    )
    checked >> enriched
    summary = query(
        "SELECT domain, sentiment, count(*) AS reviews, round(avg(rating), 2) AS mean_rating "
        f"FROM read_parquet('{output}/*.parquet') GROUP BY domain, sentiment ORDER BY domain, sentiment"
    )
    enriched >> summary
    return summary
