"""`lockgate asl`: validate and run Amazon States Language state machines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from lockgate.cli import _output, app
from lockgate.cli._output import Exit, emit_json
from lockgate.core.errors import UsageError

asl_app = typer.Typer(help="Amazon States Language state machines: validate, run, resume.", no_args_is_help=True)
app.add_typer(asl_app, name="asl")


def _definition(source: str | Path, where: str = "") -> dict[str, Any]:
    """A loaded definition that passed validation; UsageError listing every problem otherwise."""
    from lockgate.asl import definition, validate

    loaded = definition.load(source)
    problems = validate.validate(loaded)
    lines = [_problem(p) for p in problems] or _python_refusals(source, loaded)
    if lines:
        raise UsageError(f"{where or source}: invalid state machine definition:\n  " + "\n  ".join(lines))
    return loaded


def _python_refusals(source: str | Path, loaded: Any) -> list[str]:
    """Task states whose `python:` module is neither beside the definition, in the pipelines
    folder, nor in `[asl] python_modules`."""
    from lockgate.asl.resources import Resources, allow_folder

    if isinstance(source, Path):
        allow_folder(source.parent)
    return Resources.from_settings().refusals(loaded)


def _problem(problem: Any) -> str:
    state = f"state {problem.state}: " if problem.state else ""
    return f"{state}{problem.pointer or '/'}: {problem.message}"


def _input(value: str | None) -> Any:
    if value is None:
        return {}
    path = Path(value)
    text = value
    if not value.lstrip().startswith(("{", "[", '"')) and path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--input {value}: cannot read: {exc}") from None
    from lockgate.asl import limits

    try:
        value = json.loads(text, parse_constant=_no_constant)
        limits.check_input(value, "--input")
        return value
    except RecursionError:
        raise UsageError(
            f"--input nests too deeply (the limit is [limits] json_depth = {limits.current().json_depth})"
        ) from None
    except json.JSONDecodeError as exc:
        if text is value and (value.endswith((".json", ".txt")) or "/" in value):
            raise UsageError(f"--input {value}: no such file, and not JSON text") from None
        what = f"file {value}" if text is not value else "text"
        raise UsageError(f"--input {what} is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _no_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def _mock(path: str | None, test_case: str | None, state_machine: str) -> Any:
    from lockgate.asl.mock import MockConfig

    if path is None:
        if test_case is not None:
            raise UsageError("--test-case needs --mock-config")
        return None
    if test_case is None:
        raise UsageError("--mock-config needs --test-case")
    return MockConfig.load(path, state_machine, test_case)


@asl_app.command("validate")
def validate_command(file: Path = typer.Argument(..., help="A definition file, JSON or YAML.")) -> None:
    """Check a definition; exit 0 if valid, else 2 with every problem (state and JSON pointer)."""
    from lockgate.asl import definition, validate

    loaded = definition.load(file)
    lines = [_problem(p) for p in validate.validate(loaded)] or _python_refusals(file, loaded)
    if lines:
        for line in lines:
            print(f"{file}: {line}", file=sys.stderr)
        raise Exit(_output.EXIT_USAGE)
    typer.echo(f"{file}: valid")


@asl_app.command("run")
def run_command(
    definition_file: Path = typer.Option(..., "--definition", help="The definition file, JSON or YAML."),
    input_value: str = typer.Option(
        None, "--input", help="The execution input: a JSON file or JSON text (default {})."
    ),
    mock_config: str = typer.Option(None, "--mock-config", help="A Step Functions Local mock configuration file."),
    test_case: str = typer.Option(None, "--test-case", help="The test case of the mock configuration to use."),
    state_machine: str = typer.Option(
        None, "--state-machine", help="The state machine's name (default: the file's name)."
    ),
    name: str = typer.Option(None, "--name", help="The execution's name ($$.Execution.Name)."),
    in_memory: bool = typer.Option(False, "--in-memory", help="Run in memory only: fast, nothing stored, no resume."),
) -> None:
    """Run an execution to its end and print {"status", "output"} or {"status", "error", "cause"}.

    Exits 0 when it succeeded, 1 when it failed, timed out or was aborted. `python:module:function`
    resources are found next to the definition file and in the pipelines folder.
    """
    from lockgate.asl.resources import Resources

    definition = _definition(definition_file)
    resources = Resources.from_settings(folders=[definition_file.parent])
    value = _input(input_value)
    machine_name = state_machine or definition_file.stem
    mock = _mock(mock_config, test_case, machine_name)
    if in_memory:
        from lockgate.asl.driver import run_execution
        from lockgate.asl.durable import context_base

        result = run_execution(definition, value, resources=resources, mock=mock,
                               context_base=context_base(machine_name, name or "local"))  # fmt: skip
    else:
        from lockgate.asl import durable
        from lockgate.runtime import default_runtime

        run_id, result = durable.start(
            default_runtime(), definition, value, state_machine=machine_name, name=name, mock=mock, resources=resources
        )
        result = {**result, "run_id": run_id}
    emit_json(result)
    if result.get("status") != "SUCCEEDED":
        raise Exit(_output.status_code(str(result.get("status"))))


@asl_app.command("resume")
def resume_command(run_id: str = typer.Argument(..., help="A state machine run id (or a unique prefix).")) -> None:
    """Continue a durable execution whose process stopped; print its result."""
    from lockgate.asl.resources import allow_folder

    allow_folder(".")  # its python: modules beside the user, as `lockgate asl run` allowed them
    from lockgate.asl import durable
    from lockgate.runtime import default_runtime

    _output.require_home()
    result = durable.resume(default_runtime(), run_id)
    emit_json(result)
    if result.get("status") != "SUCCEEDED":
        raise Exit(_output.status_code(str(result.get("status"))))


@asl_app.command("stop")
def stop_command(
    run_id: str = typer.Argument(..., help="A state machine run id (or a unique prefix)."),
    cause: str = typer.Option("stopped by user", "--cause", help="Why it was stopped."),
) -> None:
    """Abort a running execution (it ends ABORTED)."""
    from lockgate.asl import durable
    from lockgate.runtime import default_runtime

    _output.require_home()
    runtime = default_runtime()
    durable.stop(runtime, run_id, cause)
    record = runtime.store.get_run(run_id)
    emit_json({"run_id": record.run_id if record else run_id, "status": "ABORTED"})


def _send(token: str, kind: str, output: Any = None, error: str = "", cause: str = "") -> None:
    from lockgate.asl import callbacks
    from lockgate.runtime import default_runtime

    _output.require_home()
    runtime = default_runtime()
    engine = getattr(runtime.store, "engine", None)
    if engine is None:
        raise UsageError("task callbacks need the SQL store")
    run_id = callbacks.send(engine, token, kind, runtime.clock(), output, error, cause)
    emit_json({"run_id": run_id, "sent": kind})


TOKEN = typer.Option(..., "--task-token", help="The token the task was given ($$.Task.Token).")


@asl_app.command("send-task-success")
def send_task_success(
    token: str = TOKEN, output: str = typer.Option(..., "--task-output", help="The task's result, JSON.")
) -> None:
    """Complete a `.waitForTaskToken` task with a result (SendTaskSuccess)."""
    try:
        value = json.loads(output, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--task-output is not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    _send(token, "success", output=value)


@asl_app.command("send-task-failure")
def send_task_failure(
    token: str = TOKEN,
    error: str = typer.Option("", "--error", help="The error name Retry and Catch will see."),
    cause: str = typer.Option("", "--cause", help="A description of the failure."),
) -> None:
    """Fail a `.waitForTaskToken` task (SendTaskFailure)."""
    _send(token, "failure", error=error, cause=cause)


@asl_app.command("send-task-heartbeat")
def send_task_heartbeat(token: str = TOKEN) -> None:
    """Tell a `.waitForTaskToken` task with HeartbeatSeconds that its worker is alive (SendTaskHeartbeat)."""
    _send(token, "heartbeat")


def _batch_case(line: str, number: int, cases: Path) -> dict[str, Any]:
    from lockgate.asl.driver import run_execution
    from lockgate.asl.durable import context_base
    from lockgate.asl.mock import MockConfig
    from lockgate.asl.resources import Resources

    where = f"{cases}:{number}"
    try:
        case = json.loads(line)
    except json.JSONDecodeError as exc:
        return {
            "id": None,
            "status": "INVALID",
            "error": "lockgate.InvalidCase",
            "cause": f"{where}: not JSON: {exc.msg}",
        }
    if not isinstance(case, dict):
        return {
            "id": None,
            "status": "INVALID",
            "error": "lockgate.InvalidCase",
            "cause": f"{where}: a case must be a JSON object",
        }
    case_id = case.get("id")
    try:
        source = case.get("definition")
        if isinstance(source, dict):
            source = json.dumps(source)
        if not isinstance(source, str):
            raise UsageError("definition must be an object or JSON text")
        definition = _definition(source, where)
        machine_name = str(case.get("state_machine") or "StateMachine")
        mock = None
        if case.get("mock_config") is not None:
            mock = MockConfig(case["mock_config"], machine_name, str(case.get("test_case")), f"{where}: mock_config")
        result = run_execution(definition, case.get("input", {}), resources=Resources.from_settings(), mock=mock,
                               context_base=context_base(machine_name, str(case_id or number)))  # fmt: skip
    except UsageError as exc:
        return {"id": case_id, "status": "INVALID", "error": "lockgate.InvalidCase", "cause": str(exc)}
    return {"id": case_id, **result}


@asl_app.command("run-batch")
def run_batch_command(
    cases: Path = typer.Argument(
        ..., help="A JSON Lines file: id, definition, input, mock_config, test_case, state_machine."
    ),
) -> None:
    """Run many executions in memory in one process; one result line per case, in order."""
    from lockgate.asl.resources import allow_folder

    allow_folder(cases.parent)  # the cases' python: modules beside the file, as for a definition file
    try:
        lines = cases.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{cases}: cannot read: {exc}") from None
    for number, line in enumerate(lines, 1):
        if line.strip():
            emit_json(_batch_case(line, number, cases))
