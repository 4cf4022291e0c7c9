"""shell: real commands, output into the step log, exit codes as hard or soft failures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lockgate
from lockgate import Retry, StepTimeout, TaskError, UsageError, pipeline
from lockgate.tasks import shell
from lockgate.tasks.shell import CommandFailed


def test_a_string_runs_in_the_shell_and_a_list_runs_directly(tmp_path: Path) -> None:
    out = shell("echo one; echo two >&2; echo $GREETING", env={"GREETING": "hi"}, cwd=str(tmp_path))
    assert out == {"exit_code": 0, "stdout_tail": "one\ntwo\nhi"}
    listed = shell([sys.executable, "-c", "import os; print(os.getcwd())"], cwd=str(tmp_path))
    assert listed["stdout_tail"] == str(tmp_path)


def test_a_nonzero_exit_is_a_hard_failure_holding_the_last_lines() -> None:
    with pytest.raises(CommandFailed) as caught:
        shell("for i in 1 2 3; do echo line $i; done; echo 'disk full' >&2; exit 3")
    assert caught.value.exit_code == 3 and not caught.value.retryable
    assert "exited with code 3" in str(caught.value) and "line 3\ndisk full" in str(caught.value)
    with pytest.raises(CommandFailed) as soft:
        shell("exit 75", retry_on_exit_codes=[75])
    assert soft.value.retryable


def test_a_timeout_stops_the_command_and_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    with pytest.raises(StepTimeout, match=r"timeout of 0\.5 s"):
        shell(f"echo started; sleep 30; touch {marker}", timeout=0.5)
    assert not marker.exists()


def test_output_goes_to_the_step_log_and_listed_exit_codes_are_retried(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    script = f"echo try >> {counter}; echo attempt $(wc -l < {counter}); [ $(wc -l < {counter}) -ge 2 ] || exit 75"

    @pipeline
    def flaky() -> None:
        shell.options(retry=Retry(max_attempts=2, interval=0.01))(script, retry_on_exit_codes=[75])
        shell.options(name="hard", retry=Retry(max_attempts=2, interval=0.01))("exit 4", retry_on_exit_codes=[75])

    run = lockgate.run(flaky)
    assert run.step("shell").status == "SUCCEEDED" and run.step("shell").attempts == 2
    assert run.step("hard").status == "FAILED" and run.step("hard").attempts == 1
    logs = Path(".lockgate/logs") / run.run_id / "shell"
    assert "attempt 1" in (logs / "attempt-1.log").read_text()
    assert "attempt 2" in (logs / "attempt-2.log").read_text()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(UsageError, match="command is empty"):
        shell("  ")
    with pytest.raises(UsageError, match="not a folder"):
        shell("true", cwd="/no/such/folder")
    with pytest.raises(TaskError, match="cannot start"):
        shell(["/no/such/program"])
