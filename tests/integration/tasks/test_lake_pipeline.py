"""The four lake tasks as steps of one pipeline, on the S3 server: landing to answer."""

from __future__ import annotations

import json

import lockgate
from lockgate.tasks import crawl, query, to_parquet, validate

HEADER = "id,day,rating,sentiment\n"


def test_landing_to_answer_on_s3(s3: str) -> None:
    import boto3

    from lockgate.tasks._fs import filesystem

    client = boto3.client("s3", endpoint_url=s3)
    for bucket in ("pipe-landing", "pipe-lake"):
        client.create_bucket(Bucket=bucket)
    fs, _ = filesystem("s3://")
    rows = [f"{n},2026-11-2{n % 2},{1 + n % 5},{['negative', 'neutral', 'positive'][n % 3]}\n" for n in range(30)]
    fs.pipe_file("pipe-landing/feedback/good.csv", (HEADER + "".join(rows)).encode())
    fs.pipe_file("pipe-landing/feedback/bad.csv", (HEADER + "1,2026-11-20,9,positive\n").encode())
    rules = [{"column": "rating", "check": "between", "min": 1, "max": 5}]

    @lockgate.pipeline
    def lake(name: str = "good") -> object:
        landed = f"s3://pipe-landing/feedback/{name}.csv"
        checked = validate(landed, rules=rules, quarantine="s3://pipe-lake/quarantine")
        converted = to_parquet(landed, "s3://pipe-lake/processed/feedback", partition_by="day")
        catalogued = crawl("s3://pipe-lake/processed/feedback", table="feedback", database="lake")
        answer = query("SELECT sentiment, count(*) AS n FROM lake.feedback GROUP BY 1 ORDER BY 1")
        checked >> converted >> catalogued >> answer
        return answer

    run = lockgate.run(lake)
    assert run.status == "SUCCEEDED", run.cause
    assert run.output == [{"sentiment": s, "n": 10} for s in ("negative", "neutral", "positive")]
    assert sorted(fs.ls("pipe-lake/processed/feedback")) == [
        "pipe-lake/processed/feedback/day=2026-11-20",
        "pipe-lake/processed/feedback/day=2026-11-21",
    ]

    failed = lockgate.run(lake, name="bad")
    assert failed.status == "FAILED" and failed.step("validate").error["name"] == "lockgate.DataQuality"
    assert failed.step("to_parquet").status != "SUCCEEDED"
    report = json.loads(fs.cat_file("pipe-lake/quarantine/bad.csv.report.json"))
    assert report["failed"] == ["rating between 1..5"]
    assert fs.cat_file("pipe-landing/feedback/bad.csv") == fs.cat_file("pipe-lake/quarantine/bad.csv")
