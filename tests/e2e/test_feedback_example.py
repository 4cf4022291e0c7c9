"""The feedback lake example runs from the command line and summarises the feedback it lands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "feedback_lake.py"


def run_example() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lockgate", "run", f"{EXAMPLE}:feedback_lake", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_succeeds_with_counts_by_sentiment(tmp_path: Path) -> None:
    done = run_example()
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "SUCCEEDED"
    assert [s["name"] for s in run["steps"]] == ["land_feedback", "validate", "to_parquet", "crawl", "query"]
    summary = {row["sentiment"]: row for row in run["output"]}
    assert set(summary) == {"negative", "neutral", "positive"}
    assert sum(row["reviews"] for row in summary.values()) == 240
    assert summary["neutral"]["mean_rating"] == 3.0
    assert summary["positive"]["mean_rating"] >= 4 and summary["negative"]["mean_rating"] <= 2
    assert (tmp_path / "lake" / "landing" / "feedback.csv.report.json").exists()
    partitions = sorted(p.name for p in (tmp_path / "lake" / "processed" / "feedback").iterdir())
    assert partitions == ["received_date=2026-11-20", "received_date=2026-11-21", "received_date=2026-11-22"]

    again = run_example()  # a second run replaces the processed zone: the counts stay the same
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["output"] == run["output"]
    shown = subprocess.run(
        [sys.executable, "-m", "lockgate", "catalog", "show", "feedback", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sum(p["row_count"] for p in json.loads(shown.stdout)["partitions"]) == 240
