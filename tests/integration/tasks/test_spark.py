"""spark_submit and the submit/status pair, with real spark-submit in local mode (slow: ~7-11 s each)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import lockgate
from lockgate import Retry, pipeline
from lockgate.tasks import spark_status, spark_submit, spark_submit_start

pytestmark = pytest.mark.slow

WORD_COUNT = """
import sys
from pyspark.sql import SparkSession, functions as F

source, target = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.getOrCreate()
lines = spark.read.text(source)
words = lines.select(F.explode(F.split(F.lower("value"), r"\\s+")).alias("word")).where("word != ''")
counts = words.groupBy("word").count()
counts.write.mode("overwrite").parquet(target)
print(f"counted {counts.count()} distinct words")
spark.stop()
"""

FAILING = """
from pyspark.sql import SparkSession

spark = SparkSession.builder.getOrCreate()
rows = spark.range(3).collect()
raise RuntimeError(f"refusing {len(rows)} rows: the quota is exhausted")
"""


@pytest.fixture(autouse=True)
def _needs_spark() -> None:
    from lockgate.tasks._process import find_command

    try:
        find_command("spark-submit")
    except lockgate.UsageError:
        from tests.conftest import need

        need("spark-submit is not installed: pip install 'lockgate[spark]' (needs Java 17)")


def test_a_word_count_writes_parquet_and_streams_the_driver_log(tmp_path: Path) -> None:
    (tmp_path / "wc.py").write_text(WORD_COUNT)
    (tmp_path / "text.txt").write_text("the cat sat\non the mat\nThe end\n")
    out_dir = tmp_path / "counts"

    @pipeline
    def count_words() -> dict:
        return spark_submit(str(tmp_path / "wc.py"), [str(tmp_path / "text.txt"), str(out_dir)], master="local[1]")

    run = lockgate.run(count_words)
    assert run.succeeded, run.cause
    assert run.output["exit_code"] == 0 and run.output["application_id"].startswith("local-")
    counts = dict(zip(*pq.read_table(out_dir).select(["word", "count"]).to_pydict().values(), strict=True))
    assert counts == {"the": 3, "cat": 1, "sat": 1, "on": 1, "mat": 1, "end": 1}
    step_log = (Path(".lockgate/logs") / run.run_id / "spark_submit" / "attempt-1.log").read_text()
    assert "counted 6 distinct words" in step_log and "SparkContext" in step_log


def test_a_failing_application_fails_its_step_hard_with_the_python_exception(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(FAILING)

    @pipeline
    def doomed() -> dict:
        return spark_submit.options(retry=Retry(max_attempts=2, interval=0.01))(
            str(tmp_path / "bad.py"), master="local[1]"
        )

    run = lockgate.run(doomed)
    step = run.step("spark_submit")
    assert run.status == "FAILED" and step.attempts == 1  # hard: not retried
    assert step.error["name"] == "lockgate.SparkApplicationFailed"
    cause = step.error["cause"]
    assert "exited with code 1" in cause
    assert 'bad.py", line 6, in <module>' in cause
    assert "RuntimeError: refusing 3 rows: the quota is exhausted" in cause
    assert "_spark_driver" not in cause


def test_start_then_status_from_another_process(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text(FAILING)
    started = spark_submit_start(str(tmp_path / "bad.py"), master="local[1]")
    assert Path(started["log"]).parent.parent == Path(os.environ["LOCKGATE_HOME"]).absolute() / "spark"
    assert spark_status(started["submission_id"])["state"] == "RUNNING"
    probe = "import json, sys\nfrom lockgate.tasks import spark_status\nprint(json.dumps(spark_status(sys.argv[1])))"
    deadline = time.monotonic() + 120
    while True:  # a fresh process each time: the status lives on disk, not in the caller
        done = subprocess.run(
            [sys.executable, "-c", probe, started["submission_id"]], capture_output=True, text=True, check=True
        )
        status = json.loads(done.stdout)
        if status["state"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status["state"] == "FAILED" and status["exit_code"] == 1
    assert status["application_id"].startswith("local-")
    assert "RuntimeError: refusing 3 rows: the quota is exhausted" in status["last_lines"]
    with pytest.raises(lockgate.UsageError, match="not a submission id"):
        spark_status("../../etc")
