"""The README's Python examples run as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), re.S)


def _run(path: Path, *args: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "lockgate", "run", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_the_feedback_example_runs(tmp_path: Path) -> None:
    source = next(b for b in _python_blocks() if "def feedback" in b)
    (tmp_path / "feedback.py").write_text(source)
    run = _run(tmp_path, f"{tmp_path / 'feedback.py'}:feedback", "--param", "day=2026-11-25")
    assert run["status"] == "SUCCEEDED" and run["output"] == 1
    assert [s["name"] for s in run["steps"]][:2] == ["extract", "score"]


def test_the_ingest_example_runs_against_the_s3_server(tmp_path: Path, s3: str) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3)
    client.create_bucket(Bucket="feedback")
    rows = "id,comment,rating\n1,great labs,5\n2,too fast,2\n"
    client.put_object(Bucket="feedback", Key="raw/2026-11-25.csv", Body=rows.encode())
    source = next(b for b in _python_blocks() if "def ingest" in b)
    (tmp_path / "ingest.py").write_text("from lockgate import pipeline\n" + source)
    event = json.dumps({"uri": "s3://feedback/raw/2026-11-25.csv"})
    run = _run(tmp_path, f"{tmp_path / 'ingest.py'}:ingest", "--param", f"event={event}")
    assert run["status"] == "SUCCEEDED"
    assert run["output"]["table"] == "feedback"
