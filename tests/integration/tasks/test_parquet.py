"""to_parquet: CSV, JSON and JSON lines into Parquet files and Hive datasets, locally and on S3."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from lockgate import DataQualityError, UsageError
from lockgate.attempt import StepContext, enter
from lockgate.tasks import to_parquet


def write_csv(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def feedback(start: int, count: int) -> list[dict]:
    return [
        {"id": n, "day": f"2026-11-{20 + n % 3}", "rating": 1 + n % 5, "comment": f"comment {n}"}
        for n in range(start, start + count)
    ]


def small_files(folder: Path, files: int = 12, each: int = 25) -> list[Path]:
    return [write_csv(folder / f"batch-{i:03d}.csv", feedback(i * each, each)) for i in range(files)]


def ids(uri: str | Path) -> list[int]:
    return sorted(ds.dataset(str(uri), partitioning="hive").to_table(columns=["id"]).column("id").to_pylist())


def no_temporaries(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.startswith((".", "_"))]


def test_one_csv_becomes_one_parquet_file(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "landing" / "feedback.csv", feedback(0, 100))
    dest = tmp_path / "processed" / "feedback.parquet"
    result = to_parquet(str(source), str(dest))
    assert result["uri"] == str(dest) and result["rows"] == 100 and result["files"] == [str(dest)]
    assert result["bytes"] == dest.stat().st_size
    table = pq.read_table(dest)
    assert table.num_rows == 100 and table.schema.field("id").type == pa.int64()
    assert table.schema.field("day").type == pa.date32()
    assert pq.ParquetFile(dest).metadata.row_group(0).column(0).compression == "ZSTD"
    assert no_temporaries(tmp_path / "processed")


def test_a_manifest_of_small_files_becomes_one_file_or_one_dataset(tmp_path: Path) -> None:
    files = small_files(tmp_path / "landing")
    manifest = [str(p) for p in files]
    single = to_parquet(manifest, str(tmp_path / "one.parquet"))
    assert single["rows"] == 300 and ids(tmp_path / "one.parquet") == list(range(300))
    dataset = to_parquet(manifest, str(tmp_path / "zone"))
    assert len(dataset["files"]) == 1 and dataset["files"][0].startswith(str(tmp_path / "zone" / "part-"))
    assert ids(tmp_path / "zone") == list(range(300))


def test_a_folder_or_a_glob_is_a_source(tmp_path: Path) -> None:
    small_files(tmp_path / "landing", files=3)
    (tmp_path / "landing" / "notes.txt.bak").write_text("not data")
    (tmp_path / "landing" / "_SUCCESS").write_text("")
    assert to_parquet(str(tmp_path / "landing"), str(tmp_path / "a.parquet"))["rows"] == 75
    assert to_parquet(str(tmp_path / "landing" / "batch-00[01].csv"), str(tmp_path / "b.parquet"))["rows"] == 50


def test_hive_partitions(tmp_path: Path) -> None:
    files = small_files(tmp_path / "landing", files=4)
    result = to_parquet([str(p) for p in files], str(tmp_path / "zone"), partition_by=["day"])
    folders = sorted(p.name for p in (tmp_path / "zone").iterdir())
    assert folders == ["day=2026-11-20", "day=2026-11-21", "day=2026-11-22"]
    assert len(result["files"]) == 3 and result["rows"] == 100
    table = ds.dataset(str(tmp_path / "zone"), partitioning="hive").to_table()
    assert table.num_rows == 100
    in_file = pq.read_schema(result["files"][0])
    assert "day" not in in_file.names  # the partition key lives in the path only
    assert no_temporaries(tmp_path / "zone")


def test_json_documents_and_json_lines(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.json").write_text(json.dumps([{"id": 1, "tags": ["x"]}, {"id": 2, "tags": []}]))
    (tmp_path / "in" / "b.jsonl").write_text(
        "".join(json.dumps({"id": n, "tags": ["y", "z"]}) + "\n" for n in (3, 4, 5))
    )
    result = to_parquet(str(tmp_path / "in"), str(tmp_path / "out.parquet"))
    table = pq.read_table(tmp_path / "out.parquet")
    assert result["rows"] == 5 and table.column("id").to_pylist() == [1, 2, 3, 4, 5]
    assert table.column("tags").to_pylist()[2] == ["y", "z"]


def test_a_schema_sets_the_types(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "f.csv", feedback(0, 10))
    to_parquet(str(source), str(tmp_path / "f.parquet"), schema={"id": "int32", "rating": "double", "day": "string"})
    schema = pq.read_schema(tmp_path / "f.parquet")
    assert (schema.field("id").type, schema.field("rating").type, schema.field("day").type) == (
        pa.int32(),
        pa.float64(),
        pa.string(),
    )


def test_files_with_fewer_columns_get_nulls_and_unknown_columns_are_refused(tmp_path: Path) -> None:
    first = write_csv(tmp_path / "a.csv", feedback(0, 3))
    fewer = write_csv(tmp_path / "b.csv", [{"id": 9, "day": "2026-11-20", "rating": 2}])
    result = to_parquet([str(first), str(fewer)], str(tmp_path / "ok.parquet"))
    assert result["rows"] == 4 and pq.read_table(tmp_path / "ok.parquet").column("comment").null_count == 1
    extra = write_csv(tmp_path / "c.csv", [{"id": 10, "day": "2026-11-20", "rating": 2, "comment": "", "mood": "?"}])
    with pytest.raises(DataQualityError, match=r"c\.csv: column\(s\) mood are not in the schema"):
        to_parquet([str(first), str(extra)], str(tmp_path / "bad.parquet"))
    assert not (tmp_path / "bad.parquet").exists() and no_temporaries(tmp_path)


def test_a_failure_midway_leaves_no_partial_output(tmp_path: Path) -> None:
    good = small_files(tmp_path / "landing", files=3)
    broken = write_csv(
        tmp_path / "landing" / "broken.csv", [{"id": "x", "day": "2026-11-20", "rating": 1, "comment": ""}]
    )
    with pytest.raises(DataQualityError, match=r"broken\.csv"):
        to_parquet([*map(str, good), str(broken)], str(tmp_path / "zone"), partition_by="day")
    assert not list((tmp_path / "zone").rglob("*.parquet"))
    with pytest.raises(DataQualityError):
        to_parquet([*map(str, good), str(broken)], str(tmp_path / "one.parquet"))
    assert not (tmp_path / "one.parquet").exists() and no_temporaries(tmp_path)


def test_retries_of_a_step_write_the_same_names_and_no_duplicates(tmp_path: Path) -> None:
    files = [str(p) for p in small_files(tmp_path / "landing", files=3)]
    outputs = []
    for attempt in (1, 2):
        ctx = StepContext("run1", "feedback", "to_parquet", attempt, tmp_path / "log", tmp_path)
        previous = enter(ctx)
        try:
            outputs.append(to_parquet(files, str(tmp_path / "zone"), partition_by="day"))
        finally:
            enter(previous)
    assert outputs[0]["files"] == outputs[1]["files"]
    assert ids(tmp_path / "zone") == list(range(75))
    # a part file that an earlier attempt wrote and this one did not is removed
    stray = Path(outputs[0]["files"][0]).with_name(Path(outputs[0]["files"][0]).name.replace("-0.", "-7."))
    stray.write_bytes(Path(outputs[0]["files"][0]).read_bytes())
    previous = enter(StepContext("run1", "feedback", "to_parquet", 3, tmp_path / "log", tmp_path))
    try:
        to_parquet(files, str(tmp_path / "zone"), partition_by="day")
    finally:
        enter(previous)
    assert not stray.exists() and ids(tmp_path / "zone") == list(range(75))


def test_another_run_appends_and_overwrite_replaces(tmp_path: Path) -> None:
    files = [str(p) for p in small_files(tmp_path / "landing", files=2)]
    for run_id in ("run1", "run2"):
        previous = enter(StepContext(run_id, "p", "to_parquet", 1, tmp_path / "log", tmp_path))
        try:
            to_parquet(files, str(tmp_path / "zone"), partition_by="day")
        finally:
            enter(previous)
    assert ids(tmp_path / "zone") == sorted(list(range(50)) * 2)
    result = to_parquet(files, str(tmp_path / "zone"), partition_by="day", mode="overwrite")
    assert ids(tmp_path / "zone") == list(range(50))
    assert sorted(str(p) for p in (tmp_path / "zone").rglob("*.parquet")) == sorted(result["files"])


def test_outside_a_pipeline_the_same_input_gives_the_same_names(tmp_path: Path) -> None:
    files = [str(p) for p in small_files(tmp_path / "landing", files=2)]
    first = to_parquet(files, str(tmp_path / "zone"))
    second = to_parquet(files, str(tmp_path / "zone"))
    assert first["files"] == second["files"] and ids(tmp_path / "zone") == list(range(50))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"compression": "zip"}, "compression 'zip' is not one of"),
        ({"partition_by": "nope"}, r"partition_by column\(s\) nope not in the data"),
        ({"format": "xml"}, "format 'xml' is not one of"),
        ({"mode": "upsert"}, "mode 'upsert'"),
    ],
)
def test_bad_arguments_are_usage_errors(tmp_path: Path, kwargs: dict, message: str) -> None:
    source = write_csv(tmp_path / "f.csv", feedback(0, 3))
    with pytest.raises(UsageError, match=message):
        to_parquet(str(source), str(tmp_path / "out"), **kwargs)


def test_missing_sources_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or folder"):
        to_parquet(str(tmp_path / "nope.csv"), str(tmp_path / "out.parquet"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no data files found"):
        to_parquet(str(tmp_path / "empty"), str(tmp_path / "out.parquet"))


def test_s3_to_s3_with_partitions(s3: str, tmp_path: Path) -> None:
    import boto3

    from lockgate.tasks._fs import filesystem

    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="pq-raw")
    client.create_bucket(Bucket="pq-lake")
    fs, _ = filesystem("s3://")
    for i, path in enumerate(small_files(tmp_path / "landing", files=3)):
        fs.put_file(str(path), f"pq-raw/feedback/batch-{i}.csv")
    result = to_parquet("s3://pq-raw/feedback/", "s3://pq-lake/processed/feedback", partition_by="day")
    assert result["rows"] == 75 and all(f.startswith("s3://pq-lake/processed/feedback/day=") for f in result["files"])
    assert sorted(fs.ls("pq-lake/processed/feedback")) == [
        f"pq-lake/processed/feedback/day=2026-11-2{d}" for d in (0, 1, 2)
    ]
    assert not [k for k in fs.find("pq-lake") if "/_tmp-" in k or "/." in k]
    single = to_parquet("s3://pq-raw/feedback/batch-0.csv", "s3://pq-lake/one/feedback.parquet")
    assert single["files"] == ["s3://pq-lake/one/feedback.parquet"] and single["bytes"] == fs.size(
        "pq-lake/one/feedback.parquet"
    )
    with fs.open("pq-lake/one/feedback.parquet", "rb") as handle:
        assert pq.read_table(handle).num_rows == 25


def test_a_named_connection_from_lockgate_toml(s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "lockgate.toml").write_text(
        f'[connections.partner]\nendpoint_url = "{s3_server}"\nkey = "partner"\nsecret = "partner-secret"\n'
        'region = "us-east-1"\n'
    )
    boto3.client(
        "s3", endpoint_url=s3_server, aws_access_key_id="partner", aws_secret_access_key="x", region_name="us-east-1"
    ).create_bucket(Bucket="partner")
    source = write_csv(tmp_path / "f.csv", feedback(0, 10))
    result = to_parquet(str(source), "s3://partner/out/f.parquet", connection="partner")
    assert result["rows"] == 10 and result["files"] == ["s3://partner/out/f.parquet"]
    with pytest.raises(UsageError, match="no connection 'nobody'"):
        to_parquet(str(source), "s3://partner/out/g.parquet", connection="nobody")


def test_types_come_from_a_sample_even_when_it_ends_inside_a_quoted_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    readers = sys.modules["lockgate.tasks._readers"]
    source = tmp_path / "f.csv"
    source.write_text('id,note,n\n1,"first",1\n2,"spans\ntwo lines",2\n3,"last",3\n')
    monkeypatch.setattr(readers, "INFER_BYTES", source.read_text().index("two"))
    result = to_parquet(str(source), str(tmp_path / "f.parquet"))
    table = pq.read_table(tmp_path / "f.parquet")
    assert result["rows"] == 3 and table.column("note").to_pylist() == ["first", "spans\ntwo lines", "last"]


def test_two_calls_in_one_step_keep_each_others_files(tmp_path: Path) -> None:
    files = [str(p) for p in small_files(tmp_path / "landing", files=2)]
    previous = enter(StepContext("run1", "p", "load_days", 1, tmp_path / "log", tmp_path))
    try:
        first = to_parquet(files[:1], str(tmp_path / "zone"))
        second = to_parquet(files[1:], str(tmp_path / "zone"))
    finally:
        enter(previous)
    assert first["files"] != second["files"]
    assert ids(tmp_path / "zone") == list(range(50))
