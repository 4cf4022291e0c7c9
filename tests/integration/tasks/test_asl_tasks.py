"""The task library from state machines: `lockgate:task:NAME` with JSON arguments, errors for Retry/Catch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.conftest import free_port

from lockgate.asl import durable
from lockgate.asl.driver import run_execution
from lockgate.asl.resources import Resources
from lockgate.runtime import default_runtime


def run(definition: dict[str, Any], input: Any, mapping: dict[str, str] | None = None) -> dict[str, Any]:
    return run_execution(definition, input, resources=Resources(mapping), sleep=lambda _: None)


@pytest.fixture
def ratings(tmp_path: Path) -> Path:
    path = tmp_path / "ratings.csv"
    path.write_text("id,rating\n1,4\n2,5\n3,9\n")
    return path


CHECK_AND_LOAD = {
    "StartAt": "Check",
    "States": {
        "Check": {
            "Type": "Task",
            "Resource": "lockgate:task:validate",
            "Parameters": {
                "uri.$": "$.uri",
                "schema": {"id": "integer", "rating": "integer"},
                "rules.$": "$.rules",
            },
            "Retry": [{"ErrorEquals": ["lockgate.DataQuality"], "MaxAttempts": 1, "IntervalSeconds": 1}],
            "Catch": [{"ErrorEquals": ["lockgate.DataQuality"], "ResultPath": "$.problem", "Next": "Rejected"}],
            "ResultPath": "$.report",
            "Next": "Load",
        },
        "Load": {
            "Type": "Task",
            "Resource": "lockgate:task:to_parquet",
            "Parameters": {"source.$": "$.uri", "dest.$": "$.dest"},
            "ResultSelector": {"rows.$": "$.rows"},
            "End": True,
        },
        "Rejected": {"Type": "Pass", "End": True},
    },
}


def test_validate_then_to_parquet_with_json_arguments(ratings: Path, tmp_path: Path) -> None:
    dest = tmp_path / "lake" / "ratings.parquet"
    rules = [{"column": "rating", "check": "max", "value": 10}]
    result = run(CHECK_AND_LOAD, {"uri": str(ratings), "dest": str(dest), "rules": rules})
    assert result == {"status": "SUCCEEDED", "output": {"rows": 3}}
    assert pq.read_table(dest).column("rating").to_pylist() == [4, 5, 9]


def test_a_data_quality_error_is_lockgate_data_quality_for_retry_and_catch(ratings: Path, tmp_path: Path) -> None:
    dest = tmp_path / "lake" / "ratings.parquet"
    rules = [{"column": "rating", "check": "max", "value": 5}]
    created = durable.create(
        default_runtime(),
        CHECK_AND_LOAD,
        {"uri": str(ratings), "dest": str(dest), "rules": rules},
        state_machine="ratings",
    )
    result = durable.execute(default_runtime(), created, sleep=lambda _: None)
    assert result["status"] == "SUCCEEDED"
    problem = result["output"]["problem"]
    assert problem["Error"] == "lockgate.DataQuality" and "rating" in problem["Cause"]
    assert not dest.exists()
    history = [e["type"] for e in durable.service_history(created.run_id, default_runtime())]
    assert history.count("TaskFailed") == 2  # the Retrier named it: one retry, then the Catcher
    assert "TaskSucceeded" not in history


def test_a_connection_error_matches_its_own_name_and_states_task_failed() -> None:
    url = f"http://127.0.0.1:{free_port()}/nothing-listens"
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "lockgate:task:http",
                "Parameters": {"method": "GET", "url": url, "timeout": 2},
                "Retry": [{"ErrorEquals": ["lockgate.HTTPConnectionError"], "MaxAttempts": 2, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Down"}],
                "End": True,
            },
            "Down": {"Type": "Pass", "End": True},
        },
    }
    result = run(definition, {})
    assert result["status"] == "SUCCEEDED"
    assert result["output"]["Error"] == "lockgate.HTTPConnectionError"
    assert "Connection refused" in result["output"]["Cause"]


def test_a_sync_arn_mapped_to_a_lockgate_task_runs_it_with_the_parameters(tmp_path: Path) -> None:
    definition = {
        "StartAt": "Job",
        "States": {
            "Job": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"command": ["sh", "-c", "echo ran > done.txt"], "cwd": str(tmp_path)},
                "ResultSelector": {"code.$": "$.exit_code"},
                "End": True,
            }
        },
    }
    mapping = {"arn:aws:states:::glue:startJobRun": "lockgate:task:shell"}
    assert run(definition, {}, mapping) == {"status": "SUCCEEDED", "output": {"code": 0}}
    assert (tmp_path / "done.txt").read_text() == "ran\n"


def test_query_and_crawl_take_json_arguments(ratings: Path, tmp_path: Path) -> None:
    definition = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Task",
                "Resource": "lockgate:task:query",
                "Parameters": {"sql.$": "States.Format('SELECT count(*) AS n FROM read_csv_auto(\\'{}\\')', $.uri)"},
                "End": True,
            }
        },
    }
    assert run(definition, {"uri": str(ratings)}) == {"status": "SUCCEEDED", "output": [{"n": 3}]}


def test_an_unknown_task_names_itself(tmp_path: Path) -> None:
    definition = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "lockgate:task:to_parket", "End": True}}}
    result = run(definition, {})
    assert result["status"] == "FAILED" and "to_parket" in result["cause"]
    assert json.dumps(result)  # a JSON-safe result


ROWS_TO_PARQUET = """
import sys
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
spark.range(int(sys.argv[2])).write.mode("overwrite").parquet(sys.argv[1])
spark.stop()
"""


@pytest.mark.slow
def test_glue_start_job_run_sync_mapped_to_spark_submit_runs_the_job_to_its_end(tmp_path: Path) -> None:
    import lockgate
    from lockgate.tasks._process import find_command

    try:
        find_command("spark-submit")
    except lockgate.UsageError:
        from tests.conftest import need

        need("spark-submit is not installed: pip install 'lockgate[spark]' (needs Java 17)")
    (tmp_path / "job.py").write_text(ROWS_TO_PARQUET)
    definition = {
        "StartAt": "Job",
        "States": {
            "Job": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {
                    "application": str(tmp_path / "job.py"),
                    "args.$": "States.Array($.out, $.rows)",
                    "master": "local[1]",
                },
                "ResultSelector": {"exit_code.$": "$.exit_code"},
                "End": True,
            }
        },
    }
    out = tmp_path / "ids"
    mapping = {"arn:aws:states:::glue:startJobRun.sync": "lockgate:task:spark_submit"}
    assert run(definition, {"out": str(out), "rows": 4}, mapping) == {"status": "SUCCEEDED", "output": {"exit_code": 0}}
    assert sorted(pq.read_table(out).column("id").to_pylist()) == [0, 1, 2, 3]
