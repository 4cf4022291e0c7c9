"""A Step Functions-compatible endpoint (AWS JSON 1.0) so boto3 and the AWS CLI drive lockgate.

Requests are `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>`. Supported: Create,
Update, Describe, List and Delete StateMachine; StartExecution (a durable lockgate run, driven
by a thread of the server), StartSyncExecution (in memory), DescribeExecution, ListExecutions,
GetExecutionHistory, StopExecution, RedriveExecution, ListMapRuns, DescribeMapRun,
SendTaskSuccess/Failure/Heartbeat, ValidateStateMachineDefinition and TestState. Errors answer
400 with `{"__type": <AWS error code>, "message"}`.
"""

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

ACCOUNT = "arn:aws:states:local:000000000000"
CONTENT_TYPE = "application/x-amz-json-1.0"


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def machine_arn(name: str) -> str:
    return f"{ACCOUNT}:stateMachine:{name}"


def execution_arn(machine: str, name: str) -> str:
    return f"{ACCOUNT}:execution:{machine}:{name}"


def _machine_name(arn: Any) -> str:
    if not isinstance(arn, str) or ":stateMachine:" not in arn:
        raise ApiError("InvalidArn", f"not a state machine ARN: {arn!r}")
    return arn.rsplit(":", 1)[-1]


def _execution_names(arn: Any) -> tuple[str, str]:
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 8 or parts[5] != "execution":
        raise ApiError("InvalidArn", f"not an execution ARN: {arn!r}")
    return parts[6], parts[7]


def _map_run_arn(arn: Any) -> str:
    if not isinstance(arn, str) or ":mapRun:" not in arn or "/" not in arn.split(":mapRun:", 1)[1]:
        raise ApiError("InvalidArn", f"not a Map Run ARN: {arn!r}")
    return arn


def _definition(text: Any) -> dict[str, Any]:
    from lockgate.asl import validate

    if not isinstance(text, str):
        raise ApiError("InvalidDefinition", "definition must be a JSON string")
    try:
        definition = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError("InvalidDefinition", f"definition is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ApiError("InvalidDefinition", "the definition nests too deeply ([limits] definition_nesting)") from None
    problems = validate.validate(definition, text_bytes=len(text.encode()))
    if problems:
        raise ApiError("InvalidDefinition", "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems))
    return definition  # type: ignore[no-any-return]


def _input(text: Any) -> Any:
    if text is None:
        return {}
    from lockgate.asl import limits

    try:
        value = json.loads(text)
        limits.check_input(value)
        return value
    except (TypeError, json.JSONDecodeError):
        raise ApiError("InvalidExecutionInput", "input must be JSON text") from None
    except RecursionError:
        raise ApiError("InvalidExecutionInput", "input nests too deeply ([limits] json_depth)") from None
    except ValueError as exc:
        raise ApiError("InvalidExecutionInput", str(exc)) from None


class StepFunctions:
    """The operations, over a lockgate Runtime (its SQL store)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.engine: Any = getattr(runtime.store, "engine", None)

    # -- state machines ---------------------------------------------------------------------

    def _machine_row(self, name: str) -> dict[str, Any]:
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            raise ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{machine_arn(name)}'")
        return dict(row)

    def CreateStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - the AWS operation names
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        name, text = body.get("name"), body.get("definition")
        if not isinstance(name, str) or not 1 <= len(name) <= 80:
            raise ApiError("InvalidName", f"invalid state machine name: {name!r}")
        _definition(text)
        now = self.runtime.clock()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
            if row is not None:
                if row["definition"] != text:
                    raise ApiError("StateMachineAlreadyExists", f"State Machine Already Exists: '{machine_arn(name)}'")
                return {"stateMachineArn": machine_arn(name), "creationDate": row["created_at"]}
            values = {"name": name, "definition": text, "role_arn": str(body.get("roleArn") or ""),
                      "type": str(body.get("type") or "STANDARD"), "created_at": now, "updated_at": now}  # fmt: skip
            conn.execute(t.insert(), values)
        return {"stateMachineArn": machine_arn(name), "creationDate": now}

    def UpdateStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        name = _machine_name(body.get("stateMachineArn"))
        self._machine_row(name)
        values: dict[str, Any] = {"updated_at": self.runtime.clock()}
        if body.get("definition") is not None:
            _definition(body["definition"])
            values["definition"] = body["definition"]
        if body.get("roleArn") is not None:
            values["role_arn"] = body["roleArn"]
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.name == name).values(values))
        return {"updateDate": values["updated_at"]}

    def DescribeStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        row = self._machine_row(_machine_name(body.get("stateMachineArn")))
        return {
            "stateMachineArn": machine_arn(row["name"]),
            "name": row["name"],
            "status": "ACTIVE",
            "definition": row["definition"],
            "roleArn": row["role_arn"],
            "type": row["type"],
            "creationDate": row["created_at"],
        }

    def ListStateMachines(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.name)).mappings().all()
        machines = [
            {
                "stateMachineArn": machine_arn(r["name"]),
                "name": r["name"],
                "type": r["type"],
                "creationDate": r["created_at"],
            }
            for r in rows
        ]
        return {"stateMachines": machines}

    def DeleteStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        name = _machine_name(body.get("stateMachineArn"))
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.name == name))
        return {}

    def ValidateStateMachineDefinition(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import validate

        try:
            definition = json.loads(body.get("definition") or "")
        except json.JSONDecodeError as exc:
            message = f"definition is not JSON: {exc.msg}"
            return {
                "result": "FAIL",
                "diagnostics": [{"severity": "ERROR", "code": "INVALID_JSON_DESCRIPTION", "message": message}],
            }
        diagnostics = [
            {
                "severity": "ERROR",
                "code": "SCHEMA_VALIDATION_FAILED",
                "message": p.message,
                "location": p.pointer or "/",
            }
            for p in validate.validate(definition)
        ]
        return {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics}

    def TestState(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl.resources import Resources
        from lockgate.asl.single import test_state

        try:
            state = json.loads(body.get("definition") or "")
        except json.JSONDecodeError:
            raise ApiError("InvalidDefinition", "definition must be the JSON of one state") from None
        if not isinstance(state, dict) or not isinstance(state.get("Type"), str):
            raise ApiError("InvalidDefinition", "definition must be one state object with a Type")
        variables = json.loads(body["variables"]) if body.get("variables") else None
        return test_state(state, _input(body.get("input")), Resources.from_settings(self.runtime.settings), variables)

    # -- executions ----------------------------------------------------------------------------

    def StartExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import durable
        from lockgate.core.errors import UsageError

        machine = _machine_name(body.get("stateMachineArn"))
        definition = json.loads(self._machine_row(machine)["definition"])
        value = _input(body.get("input"))
        try:
            created = durable.create(self.runtime, definition, value, state_machine=machine, name=body.get("name"))
        except durable.InvalidInput as exc:
            raise ApiError("InvalidExecutionInput", str(exc)) from None
        except UsageError as exc:
            raise ApiError("ExecutionAlreadyExists", str(exc)) from None
        name = created.name
        thread = threading.Thread(target=self._drive, args=(created,), name=f"asl-{created.run_id}", daemon=True)
        thread.start()
        return {"executionArn": execution_arn(machine, name), "startDate": self.runtime.clock()}

    def _drive(self, created: Any) -> None:
        from lockgate.asl import durable

        try:
            durable.execute(self.runtime, created)
        except Exception:
            log.exception("execution %s stopped with an error", created.run_id, extra={"run_id": created.run_id})

    def StartSyncExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl.driver import run_execution
        from lockgate.asl.durable import context_base
        from lockgate.asl.resources import Resources

        machine = _machine_name(body.get("stateMachineArn"))
        definition = json.loads(self._machine_row(machine)["definition"])
        value = _input(body.get("input"))
        name = str(body.get("name") or f"sync-{int(self.runtime.clock() * 1000)}")
        started = self.runtime.clock()
        result = run_execution(definition, value, resources=Resources.from_settings(self.runtime.settings),
                               context_base=context_base(machine, name))  # fmt: skip
        answer = {
            "executionArn": execution_arn(machine, name),
            "stateMachineArn": machine_arn(machine),
            "name": name,
            "startDate": started,
            "stopDate": self.runtime.clock(),
            "status": result["status"],
            "input": json.dumps(value),
        }
        if result["status"] == "SUCCEEDED":
            answer["output"] = json.dumps(result["output"])
        else:
            answer["error"], answer["cause"] = result.get("error") or "", result.get("cause") or ""
        return answer

    def _execution(self, arn: Any) -> Any:
        from lockgate.asl.durable import execution_key

        machine, name = _execution_names(arn)
        record = self.runtime.store.find_by_key(execution_key(machine, name))
        if record is None:
            raise ApiError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{arn}'")
        return record

    def _summary(self, record: Any) -> dict[str, Any]:
        name = record.params.get("name", record.run_id)
        summary = {
            "executionArn": execution_arn(record.pipeline, name),
            "stateMachineArn": machine_arn(record.pipeline),
            "name": name,
            "status": record.status,
            "startDate": record.started_at or record.created_at,
        }
        if record.ended_at is not None:
            summary["stopDate"] = record.ended_at
        return summary

    def DescribeExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl.redrive import REDRIVABLE, redrive_count

        record = self._execution(body.get("executionArn"))
        answer = {**self._summary(record), "input": json.dumps(record.params.get("input"))}
        answer["redriveCount"] = redrive_count(self.runtime.store.history(record.run_id))
        answer["redriveStatus"] = "REDRIVABLE" if record.status in REDRIVABLE else "NOT_REDRIVABLE"
        if record.params.get("map_run"):
            answer["mapRunArn"] = record.params["map_run"]
        if record.status == "SUCCEEDED":
            answer["output"] = json.dumps(record.output)
        if record.error is not None:
            answer["error"] = record.error
        if record.cause is not None:
            answer["cause"] = record.cause
        return answer

    def ListExecutions(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        if body.get("mapRunArn") is not None:
            from lockgate.asl import map_runs

            if body.get("stateMachineArn") is not None:
                raise ApiError("ValidationException", "give either stateMachineArn or mapRunArn, not both")
            arn = _map_run_arn(body["mapRunArn"])
            if map_runs.find_parent(self.runtime, arn) is None:
                raise ApiError("ResourceNotFound", f"Map Run Does Not Exist: '{arn}'")
            status = body.get("statusFilter")
            found = [r for r in map_runs.children(self.runtime, arn) if status is None or r.status == status]
            return {"executions": [{**self._summary(r), "mapRunArn": arn} for r in found]}
        machine = _machine_name(body.get("stateMachineArn"))
        records = self.runtime.store.list_runs(
            pipeline=machine, status=body.get("statusFilter"), limit=int(body.get("maxResults") or 1000)
        )
        return {"executions": [self._summary(r) for r in records if r.kind == "asl"]}

    def GetExecutionHistory(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl.durable import replay

        record = self._execution(body.get("executionArn"))
        events = replay(self.runtime.store.history(record.run_id)).machine.history
        if body.get("reverseOrder"):
            events.reverse()
        return {"events": events}

    def StopExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import durable
        from lockgate.core.errors import UsageError

        record = self._execution(body.get("executionArn"))
        try:
            durable.stop(self.runtime, record.run_id, str(body.get("cause") or "stopped through the API"))
        except UsageError as exc:
            raise ApiError("ExecutionNotRunning", str(exc)) from None
        return {"stopDate": self.runtime.clock()}

    def RedriveExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import redrive
        from lockgate.core.errors import UsageError

        record = self._execution(body.get("executionArn"))
        try:
            redrive.reopen(self.runtime, record.run_id)
        except UsageError as exc:
            raise ApiError("ExecutionNotRedrivable", str(exc)) from None
        thread = threading.Thread(target=self._redrive, args=(record.run_id,), name=f"asl-{record.run_id}", daemon=True)
        thread.start()
        return {"redriveDate": self.runtime.clock()}

    def _redrive(self, run_id: str) -> None:
        from lockgate.asl import redrive

        try:
            redrive.carry_on(self.runtime, run_id)
        except Exception:
            log.exception("execution %s stopped with an error", run_id, extra={"run_id": run_id})

    def ListMapRuns(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import map_runs

        record = self._execution(body.get("executionArn"))
        return {"mapRuns": map_runs.summaries(map_runs.parent_machine(self.runtime, record))}

    def DescribeMapRun(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import map_runs

        arn = _map_run_arn(body.get("mapRunArn"))
        parent = map_runs.find_parent(self.runtime, arn)
        described = map_runs.describe(self.runtime, parent, arn) if parent is not None else None
        if described is None:
            raise ApiError("ResourceNotFound", f"Map Run Does Not Exist: '{arn}'")
        return described

    def _send(self, body: dict[str, Any], kind: str, **fields: Any) -> dict[str, Any]:
        from lockgate.asl import callbacks
        from lockgate.core.errors import UsageError

        try:
            callbacks.send(self.engine, str(body.get("taskToken") or ""), kind, self.runtime.clock(), **fields)
        except UsageError as exc:
            code = str(exc).partition(":")[0]
            raise ApiError(code if code in ("TaskDoesNotExist", "TaskTimedOut") else "InvalidToken", str(exc)) from None
        return {}

    def SendTaskSuccess(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        try:
            output = json.loads(body.get("output") or "")
        except json.JSONDecodeError:
            raise ApiError("InvalidOutput", "output must be JSON text") from None
        return self._send(body, "success", output=output)

    def SendTaskFailure(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._send(body, "failure", error=str(body.get("error") or ""), cause=str(body.get("cause") or ""))

    def SendTaskHeartbeat(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._send(body, "heartbeat")

    def operation(self, name: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        return getattr(self, name, None) if name[:1].isupper() else None


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, Request
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    api = APIRouter(tags=["stepfunctions"])
    service = StepFunctions(runtime)

    def answer(status: int, value: dict[str, Any]) -> Response:
        return Response(json.dumps(value), status_code=status, media_type=CONTENT_TYPE)

    @api.post("/", include_in_schema=False)
    async def stepfunctions(request: Request) -> Response:
        target = request.headers.get("x-amz-target", "")
        prefix, _, name = target.partition(".")
        operation = service.operation(name) if prefix == "AWSStepFunctions" else None
        if operation is None:
            return answer(400, {"__type": "UnknownOperationException", "message": f"unsupported operation {target!r}"})
        if service.engine is None:
            return answer(
                400, {"__type": "ServiceUnavailable", "message": "the Step Functions API needs the SQL store"}
            )
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ApiError("ValidationException", "the request body must be a JSON object")
            return answer(200, await run_in_threadpool(operation, body))
        except ApiError as exc:
            return answer(400, {"__type": exc.code, "message": str(exc)})
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            return answer(400, {"__type": "SerializationException", "message": "the request body is not JSON"})

    return api
