"""validate: real files the tests write, checked by DuckDB and frictionless."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from lockgate import DataQualityError, UsageError
from lockgate.tasks import validate

HEADER = "id,received_at,email,rating,sentiment\n"
GOOD_ROWS = [
    "1,2026-11-24 10:00:00,ann@example.com,5,positive\n",
    "2,2026-11-24 11:00:00,bob@example.com,3,neutral\n",
    "3,2026-11-24 12:00:00,cy@example.com,1,negative\n",
]
RULES = [
    {"column": "id", "check": "not_null"},
    {"column": "id", "check": "unique"},
    {"column": "rating", "check": "between", "min": 1, "max": 5},
    {"column": "sentiment", "check": "allowed", "values": ["positive", "neutral", "negative"]},
    {"column": "email", "check": "regex", "pattern": "[^@]+@[^@]+\\.[a-z]+"},
    {"check": "row_count", "min": 1, "max": 100},
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def report_of(path: Path) -> dict:
    return json.loads(Path(f"{path}.report.json").read_text())


def by_name(report: dict) -> dict[str, dict]:
    return {check["name"]: check for check in report["checks"]}


def test_a_good_csv_passes_and_its_report_sits_next_to_it(tmp_path: Path) -> None:
    data = write(tmp_path / "landing" / "feedback.csv", HEADER + "".join(GOOD_ROWS))
    result = validate(str(data), schema={"id": "integer", "rating": "integer"}, rules=RULES)
    assert result == {"uri": str(data), "format": "csv", "rows": 3, "report": f"{data}.report.json", "valid": True}
    report = report_of(data)
    assert report["valid"] is True and report["failed"] == []
    assert all(check["passed"] for check in report["checks"])
    assert {c["check"] for c in report["checks"]} >= {"format", "structure", "columns", "type", "unique", "regex"}


def test_bad_rows_fail_with_counts_row_numbers_and_a_quarantined_copy(tmp_path: Path) -> None:
    rows = [
        *GOOD_ROWS,
        "3,2026-11-24 13:00:00,dup@example.com,4,positive\n",  # row 4: duplicate id
        "5,2026-11-24 14:00:00,not-an-email,9,ecstatic\n",  # row 5: rating, sentiment, email
        ",2026-11-24 15:00:00,eve@example.com,x,neutral\n",  # row 6: no id, rating not a number
    ]
    data = write(tmp_path / "landing" / "feedback.csv", HEADER + "".join(rows))
    before = sha256(data)
    with pytest.raises(DataQualityError) as caught:
        validate(
            str(data),
            schema={"id": "integer", "rating": "integer"},
            rules=RULES,
            quarantine=str(tmp_path / "quarantine"),
        )
    error = caught.value
    assert error.report == f"{data}.report.json"
    assert error.report in str(error)
    assert error.retryable is False and error.error_name == "lockgate.DataQuality"
    checks = by_name(report_of(data))
    assert checks["id unique"]["bad_rows"] == 2
    assert [e["row"] for e in checks["id unique"]["examples"]] == [3, 4]
    assert checks["id not_null"]["bad_rows"] == 1 and checks["id not_null"]["examples"][0]["row"] == 6
    assert checks["rating is integer"]["examples"] == [{"row": 6, "value": "x"}]
    assert checks["rating between 1..5"]["examples"] == [{"row": 5, "value": 9}]
    assert checks["sentiment allowed in ['positive', 'neutral', 'negative']"]["examples"][0]["value"] == "ecstatic"
    assert checks["email regex ~ [^@]+@[^@]+\\.[a-z]+"]["bad_rows"] == 1
    assert checks["row_count 1..100"]["passed"] is True
    # the original is untouched; the quarantine holds a copy and the report
    assert sha256(data) == before
    copy = tmp_path / "quarantine" / "feedback.csv"
    assert sha256(copy) == before
    quarantined_report = json.loads((tmp_path / "quarantine" / "feedback.csv.report.json").read_text())
    assert quarantined_report["valid"] is False and quarantined_report["quarantine"] == str(copy)


def test_a_json_file_named_csv_is_caught_as_json(tmp_path: Path) -> None:
    data = write(tmp_path / "feedback.csv", "".join(json.dumps({"id": i, "rating": 4}) + "\n" for i in range(5)))
    before = sha256(data)
    with pytest.raises(DataQualityError, match="declared csv but the content is jsonl"):
        validate(str(data), quarantine=str(tmp_path / "q"))
    report = report_of(data)
    assert report["format"] == "jsonl" and report["declared_format"] == "csv"
    assert report["failed"] == ["format"]
    assert sha256(data) == before and sha256(tmp_path / "q" / "feedback.csv") == before


def test_a_json_array_named_csv_is_caught_too(tmp_path: Path) -> None:
    data = write(tmp_path / "export.csv", json.dumps([{"id": 1}, {"id": 2}]))
    with pytest.raises(DataQualityError, match="content is json"):
        validate(str(data))


def test_json_lines_are_checked_when_declared(tmp_path: Path) -> None:
    lines = [{"id": 1, "rating": 5}, {"id": 2, "rating": 7}, {"id": 2, "rating": None}]
    data = write(tmp_path / "events.jsonl", "".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(DataQualityError):
        validate(
            str(data),
            format="jsonl",
            rules=[{"column": "rating", "check": "max", "value": 5}, {"column": "id", "check": "unique"}],
        )
    checks = by_name(report_of(data))
    assert checks["rating max <= 5"]["examples"] == [{"row": 2, "value": 7}]
    assert checks["id unique"]["bad_rows"] == 2


def test_structure_errors_name_their_rows(tmp_path: Path) -> None:
    data = write(tmp_path / "ragged.csv", "a,b,c\n1,2,3\n4,5\n6,7,8,9\n")
    with pytest.raises(DataQualityError, match="structure"):
        validate(str(data))
    structure = by_name(report_of(data))["structure"]
    assert [(e["row"], e["error"]) for e in structure["examples"]] == [(2, "missing-cell"), (3, "extra-cell")]


def test_missing_columns_and_a_table_schema_with_constraints(tmp_path: Path) -> None:
    data = write(tmp_path / "f.csv", "id,rating\n1,3\n2,6\n2,4\n")
    schema = {
        "fields": [
            {"name": "id", "type": "integer"},
            {"name": "rating", "type": "integer", "constraints": {"minimum": 1, "maximum": 5}},
            {"name": "sentiment", "type": "string"},
        ],
        "primaryKey": ["id"],
    }
    with pytest.raises(DataQualityError):
        validate(str(data), schema=schema)
    report = report_of(data)
    assert set(report["failed"]) == {"columns", "rating between 1..5", "id unique"}
    assert by_name(report)["columns"]["message"] == "missing column(s): sentiment"


def test_row_count_bounds(tmp_path: Path) -> None:
    data = write(tmp_path / "f.csv", HEADER + "".join(GOOD_ROWS))
    with pytest.raises(DataQualityError, match=r"row_count 10\.\.inf: 3 rows"):
        validate(str(data), rules=[{"check": "row_count", "min": 10}])
    assert validate(str(data), rules=[{"check": "row_count", "max": 3}])["valid"]


def test_freshness_of_a_timestamp_column_and_of_the_file(tmp_path: Path) -> None:
    now = time.time()
    recent = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 60))
    old = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now - 7200))
    data = write(tmp_path / "f.csv", f"id,at\n1,{old}\n2,{recent}\n")
    assert validate(str(data), rules=[{"column": "at", "check": "freshness", "max_age_seconds": 600}])["valid"]
    with pytest.raises(DataQualityError, match="the newest at"):
        validate(str(data), rules=[{"column": "at", "check": "freshness", "max_age_seconds": 30}])
    os.utime(data, (now - 86400, now - 86400))
    with pytest.raises(DataQualityError, match="the file was modified"):
        validate(str(data), rules=[{"check": "freshness", "max_age_seconds": 3600}])
    assert validate(str(data), rules=[{"check": "freshness", "max_age_seconds": 2 * 86400}])["valid"]


def test_a_rule_on_a_column_the_file_lacks_fails(tmp_path: Path) -> None:
    data = write(tmp_path / "f.csv", "a\n1\n")
    with pytest.raises(DataQualityError, match="column 'b' is not in the file"):
        validate(str(data), rules=[{"column": "b", "check": "not_null"}])


def test_a_report_may_go_elsewhere(tmp_path: Path) -> None:
    data = write(tmp_path / "in" / "f.csv", "a\n1\n")
    result = validate(str(data), report=str(tmp_path / "reports" / "f.json"))
    assert result["report"] == str(tmp_path / "reports" / "f.json")
    assert json.loads((tmp_path / "reports" / "f.json").read_text())["valid"] is True
    assert not Path(f"{data}.report.json").exists()


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"column": "a", "check": "nonsense"}], r"rules\[0\]: check 'nonsense' is not one of"),
        ([{"check": "not_null"}], r"rules\[0\]: check 'not_null' needs a 'column'"),
        ([{"column": "a", "check": "between"}], "needs 'min', 'max' or both"),
        ([{"column": "a", "check": "regex", "pattern": "("}], "not a valid regex"),
        ([{"column": "a", "check": "min", "value": 1, "vaule": 2}], "unknown key"),
        ({"column": "a"}, "expected a list"),
    ],
)
def test_bad_rules_are_usage_errors_naming_the_rule(tmp_path: Path, rules: object, message: str) -> None:
    data = write(tmp_path / "f.csv", "a\n1\n")
    with pytest.raises(UsageError, match=message):
        validate(str(data), rules=rules)  # type: ignore[arg-type]


def test_unknown_types_and_missing_files_are_usage_errors(tmp_path: Path) -> None:
    data = write(tmp_path / "f.csv", "a\n1\n")
    with pytest.raises(UsageError, match="unknown type 'integr'"):
        validate(str(data), schema={"a": "integr"})
    with pytest.raises(UsageError, match="no such file"):
        validate(str(tmp_path / "nope.csv"))


def test_validate_on_s3_quarantines_to_s3(s3: str, tmp_path: Path) -> None:
    import boto3

    from lockgate.tasks._fs import filesystem

    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="val-landing")
    client.create_bucket(Bucket="val-quarantine")
    fs, _ = filesystem("s3://")
    body = (HEADER + "".join(GOOD_ROWS) + "4,2026-11-24 16:00:00,x@example.com,8,positive\n").encode()
    fs.pipe_file("val-landing/day1/feedback.csv", body)
    with pytest.raises(DataQualityError) as caught:
        validate("s3://val-landing/day1/feedback.csv", rules=RULES, quarantine="s3://val-quarantine/day1")
    assert caught.value.report == "s3://val-landing/day1/feedback.csv.report.json"
    assert fs.cat_file("val-landing/day1/feedback.csv") == body
    assert fs.cat_file("val-quarantine/day1/feedback.csv") == body
    report = json.loads(fs.cat_file("val-quarantine/day1/feedback.csv.report.json"))
    assert report["failed"] == ["rating between 1..5"]
    fs.pipe_file("val-landing/day2/feedback.csv", (HEADER + "".join(GOOD_ROWS)).encode())
    assert validate("s3://val-landing/day2/feedback.csv", rules=RULES)["rows"] == 3


def test_a_failed_validation_fails_the_step_without_retrying(tmp_path: Path) -> None:
    import lockgate

    data = write(tmp_path / "f.csv", "a\n1\n1\n")

    @lockgate.pipeline
    def checks() -> object:
        return validate(str(data), rules=[{"column": "a", "check": "unique"}])

    run = lockgate.run(checks)
    assert run.status == "FAILED"
    step = run.step("validate")
    assert step.attempts == 1 and step.error is not None
    assert step.error["name"] == "lockgate.DataQuality" and f"{data}.report.json" in step.error["cause"]


def test_a_semicolon_separated_file(tmp_path: Path) -> None:
    data = write(tmp_path / "f.csv", "id;rating\n1;4\n2;9\n")
    with pytest.raises(DataQualityError):
        validate(str(data), rules=[{"column": "rating", "check": "max", "value": 5}])
    assert by_name(report_of(data))["rating max <= 5"]["examples"] == [{"row": 2, "value": 9}]


def test_a_second_quarantined_file_of_the_same_name_keeps_the_first(tmp_path: Path) -> None:
    rules = [{"column": "a", "check": "unique"}]
    first = write(tmp_path / "day1" / "f.csv", "a\n1\n1\n")
    second = write(tmp_path / "day2" / "f.csv", "a\n2\n2\n2\n")
    for data in (first, second):
        with pytest.raises(DataQualityError):
            validate(str(data), rules=rules, quarantine=str(tmp_path / "q"))
    copies = sorted(p.name for p in (tmp_path / "q").iterdir() if not p.name.endswith(".report.json"))
    assert len(copies) == 2 and copies[0].startswith("f.") and copies[1] == "f.csv"
    assert sha256(tmp_path / "q" / "f.csv") == sha256(first)
    stamped = tmp_path / "q" / copies[0]
    assert sha256(stamped) == sha256(second) and Path(f"{stamped}.report.json").exists()


def test_quoted_line_breaks_count_as_one_row(tmp_path: Path) -> None:
    data = write(tmp_path / "f.csv", 'id,comment\n1,"two\nlines"\n2,x\n2,y\n')
    with pytest.raises(DataQualityError):
        validate(str(data), rules=[{"column": "id", "check": "unique"}])
    assert [e["row"] for e in by_name(report_of(data))["id unique"]["examples"]] == [2, 3]


def test_a_file_that_cannot_be_parsed_fails_with_the_reason(tmp_path: Path) -> None:
    data = write(tmp_path / "events.jsonl", '{"a": 1}\n{"a": 2\n{"a": 3}\n')
    with pytest.raises(DataQualityError, match="parse: cannot be read as json"):
        validate(str(data), format="jsonl", quarantine=str(tmp_path / "q"))
    assert (tmp_path / "q" / "events.jsonl").read_bytes() == data.read_bytes()


def test_ragged_rows_past_the_frictionless_sample_are_found_by_duckdb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setattr(sys.modules["lockgate.tasks._csv"], "STRUCTURE_SAMPLE_ROWS", 3)
    data = write(tmp_path / "f.csv", "a,b,c\n1,2,3\n4,5\n7,8,9\n1,2,3\n4,5,6,7\n1,2\n")
    with pytest.raises(DataQualityError, match="structure: 3 bad row"):
        validate(str(data))
    structure = by_name(report_of(data))["structure"]
    assert [(e["row"], e["error"]) for e in structure["examples"]] == [
        (2, "missing-cell"),
        (5, "extra-cell"),
        (6, "missing-cell"),
    ]
