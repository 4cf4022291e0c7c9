from pathlib import Path

import pytest

from lockgate.core.errors import UsageError
from lockgate.dag.pipeline import Pipeline
from lockgate.triggers import FileArrival
from lockgate.triggers.files import ObjectSeen
from lockgate.triggers.ledger import KEY_MAX, object_key, params_for, run_key


def test_s3_triggers_match_by_prefix_and_name_pattern() -> None:
    trigger = FileArrival("s3://feedback/raw", pattern="*.csv", prefix="2026/")
    assert trigger.root == "s3://feedback/raw/"
    assert trigger.matches("s3://feedback/raw/2026/11/a.csv")
    assert not trigger.matches("s3://feedback/raw/2025/a.csv")
    assert not trigger.matches("s3://feedback/raw/2026/a.json")
    assert not trigger.matches("s3://feedback/rawdata/2026/a.csv")


def test_local_folders_become_absolute_file_uris(tmp_path: Path) -> None:
    trigger = FileArrival(str(tmp_path / "in"))
    assert trigger.root == (tmp_path / "in").as_uri() + "/"
    assert trigger.matches((tmp_path / "in" / "x.bin").as_uri())


@pytest.mark.parametrize("uri", ["", "s3://", "http://host/x"])
def test_unwatchable_uris_are_refused(uri: str) -> None:
    with pytest.raises(UsageError):
        FileArrival(uri)


def test_dedup_keys_are_per_pipeline_uri_and_etag_and_fit_the_column() -> None:
    obj = ObjectSeen("s3://b/" + "k" * 900, "k" * 900, 1, "e1", 0.0)
    key = object_key("ingest", obj)
    assert len(key) <= KEY_MAX and key == object_key("ingest", obj)
    assert key != object_key("ingest", ObjectSeen(obj.uri, obj.key, 1, "e2", 0.0))
    assert run_key("object", "p", "short") == "object:p:short"


def test_params_keep_what_the_pipeline_accepts() -> None:
    def takes_event(event: dict) -> None: ...

    def takes_all(**kw: object) -> None: ...

    values = {"event": {"uri": "u"}, "logical_date": "d"}
    assert params_for(Pipeline(takes_event, name="t_event"), values) == {"event": {"uri": "u"}}
    assert params_for(Pipeline(takes_all, name="t_all"), values) == values


def test_the_trigger_values_are_importable_from_one_place() -> None:
    import lockgate.triggers as triggers

    assert triggers.__all__ == ["Cron", "DatasetUpdated", "FileArrival", "Interval", "Manifest", "PipelineSucceeded"]
    assert all(hasattr(triggers, name) for name in triggers.__all__)


def test_dataset_triggers_match_the_uri_or_what_is_below_a_folder_uri() -> None:
    from lockgate.triggers import DatasetUpdated

    folder = DatasetUpdated("s3://feedback/processed/")
    assert folder.matches("s3://feedback/processed/2026/part-0.parquet")
    assert folder.matches("s3://feedback/processed")
    assert not folder.matches("s3://feedback/processed-old/x")
    exact = DatasetUpdated("s3://feedback/table")
    assert exact.matches("s3://feedback/table") and not exact.matches("s3://feedback/table/part-0")
