"""The warehouse-load example runs from the command line, on its own data, twice in a row."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).parents[3] / "examples" / "warehouse_load.py"


def test_the_example_loads_and_counts_by_sentiment(tmp_path: Path) -> None:
    for _ in range(2):  # mode="replace": a second run gives the same counts, not doubled ones
        done = subprocess.run(
            [sys.executable, "-m", "lockgate", "run", f"{EXAMPLE}:warehouse_load", "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        run = json.loads(done.stdout)
        assert run["status"] == "SUCCEEDED"
        assert run["output"] == {
            "negative": {"rows": 24, "mean_rating": 1.5},
            "neutral": {"rows": 12, "mean_rating": 3.0},
            "positive": {"rows": 24, "mean_rating": 4.5},
        }
    assert (tmp_path / "warehouse.db").is_file()
