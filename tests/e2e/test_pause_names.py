"""`lockgate pause` and `unpause` refuse names the pipelines folder does not define."""

import json
import subprocess
import sys
from pathlib import Path

FLOWS = """
from lockgate import pipeline, task

@task
def one() -> int:
    return 1

@pipeline
def daily():
    return one()
"""


def lockgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def test_pause_refuses_an_unknown_name_and_accepts_pipelines_and_state_machines(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "flows.py").write_text(FLOWS)
    (tmp_path / "pipelines" / "m.asl.json").write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    )
    (tmp_path / "pipelines" / "lockgate.toml").write_text('[asl.state_machines.machine]\ndefinition = "m.asl.json"\n')
    refused = lockgate("pause", "dialy")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "no pipeline 'dialy' in pipelines (pipelines there: daily, machine)" in refused.stderr
    assert lockgate("unpause", "dialy").returncode == 2
    assert lockgate("pause", "daily").stdout.strip() == "daily paused"
    assert lockgate("pause", "machine").stdout.strip() == "machine paused"
    listed = {row["name"]: row["paused"] for row in json.loads(lockgate("pipelines", "--json").stdout)}
    assert listed == {"daily": True, "machine": True}
    (tmp_path / "pipelines" / "lockgate.toml").unlink()  # the state machine is gone; its pause can still be lifted
    assert lockgate("unpause", "machine").stdout.strip() == "machine unpaused"


def test_pause_without_a_loadable_default_folder_accepts_any_name(tmp_path: Path) -> None:
    done = lockgate("pause", "later")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "later paused"


def test_an_unknown_command_or_a_bad_option_value_exits_2_without_a_traceback(tmp_path: Path) -> None:
    for args in (["notifications", "list"], ["nosuch"], ["runs", "--limit", "x"]):
        done = lockgate(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert "Error:" in done.stderr and "Traceback" not in done.stderr
