"""A Step Functions-compatible endpoint (AWS JSON 1.0) so boto3 and the AWS CLI drive lockgate.

Requests are `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>`. Supported: Create,
Update, Describe, List and Delete StateMachine; StartExecution (a durable lockgate run, driven
by a thread of the server; also on a version or alias ARN), StartSyncExecution (in memory),
DescribeExecution, DescribeStateMachineForExecution, ListExecutions, GetExecutionHistory,
StopExecution, RedriveExecution, ListMapRuns, DescribeMapRun, SendTaskSuccess/Failure/Heartbeat,
ValidateStateMachineDefinition, TestState; TagResource, UntagResource, ListTagsForResource;
Create/Describe/List/DeleteActivity and GetActivityTask; PublishStateMachineVersion,
ListStateMachineVersions, DeleteStateMachineVersion; Create/Describe/Update/List/Delete
StateMachineAlias; UpdateMapRun. List operations page with `maxResults` and `nextToken`. Errors answer 400
with `{"__type": <AWS error code>, "message"}`.

The SDKs send StartSyncExecution and TestState to the host `sync-<endpoint host>`; the server
accepts any Host, so those calls work when that name resolves (a `*.localhost` endpoint name,
say), else with the client setting printed when the server starts (HOST_PREFIX_HINT).
"""

import base64
import json
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from lockgate.asl import arns

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.0"
HOST_PREFIX_HINT = (
    "Step Functions API: StartSyncExecution and TestState clients must not add the 'sync-' host prefix on loopback: "
    "set AWS_DISABLE_HOST_PREFIX_INJECTION=true (or botocore Config(inject_host_prefix=False))"
)
DEFAULT_PAGE, MAX_PAGE = 100, 1000
# Names the service refuses: whitespace, brackets, wildcards, special and control characters.
_BAD_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_hinted = False


class ApiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def machine_arn(name: str) -> str:
    return arns.state_machine(name)


def execution_arn(machine: str, name: str) -> str:
    return arns.execution(machine, name)


def check_name(name: Any, what: str) -> str:
    """A name the service takes (1-80 characters, none of its refused characters); InvalidName else."""
    if not isinstance(name, str) or not 1 <= len(name) <= 80 or _BAD_NAME.search(name):
        raise ApiError("InvalidName", f"Invalid Name: '{name}' is not a valid {what} name")
    return name


def _arn_parts(arn: Any, kind: str) -> list[str]:
    parts = arn.split(":") if isinstance(arn, str) else []
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states" or parts[5] != kind:
        raise ApiError("InvalidArn", f"Invalid Arn: '{arn}' is not a {kind} ARN")
    return parts


def _machine_ref(arn: Any) -> tuple[str, str | None]:
    """(state machine name, version or alias or None) of a state machine ARN."""
    parts = _arn_parts(arn, "stateMachine")
    if len(parts) > 8:
        raise ApiError("InvalidArn", f"Invalid Arn: '{arn}'")
    return parts[6], parts[7] if len(parts) == 8 else None


def _machine_name(arn: Any) -> str:
    name, qualifier = _machine_ref(arn)
    if qualifier is not None:
        raise ApiError("InvalidArn", f"Invalid Arn: '{arn}' names a version or alias, not the state machine")
    return name


def _execution_names(arn: Any) -> tuple[str, str]:
    parts = _arn_parts(arn, "execution")
    if len(parts) < 8:
        raise ApiError("InvalidArn", f"Invalid Arn: '{arn}' is not an execution ARN")
    return parts[6], parts[7]


def _activity_name(arn: Any) -> str:
    parts = _arn_parts(arn, "activity")
    if len(parts) != 7:
        raise ApiError("InvalidArn", f"Invalid Arn: '{arn}' is not an activity ARN")
    return parts[6]


def _map_run_arn(arn: Any) -> str:
    if not isinstance(arn, str) or ":mapRun:" not in arn or "/" not in arn.split(":mapRun:", 1)[1]:
        raise ApiError("InvalidArn", f"not a Map Run ARN: {arn!r}")
    return arn


def _definition(text: Any, settings: Any = None) -> dict[str, Any]:
    from lockgate.asl import definition as definitions
    from lockgate.asl import validate
    from lockgate.asl.resources import Resources

    if not isinstance(text, str):
        raise ApiError("InvalidDefinition", "definition must be a JSON string")
    try:
        definition = definitions.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError("InvalidDefinition", f"definition is not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ApiError("InvalidDefinition", "the definition nests too deeply ([limits] definition_nesting)") from None
    problems = validate.validate(definition, text_bytes=len(text.encode()))
    if problems:
        raise ApiError("InvalidDefinition", "; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems))
    from lockgate.core.errors import UsageError

    try:
        refused = Resources.from_settings(settings).refusals(definition)  # python: modules outside the allowed ones
    except UsageError as exc:  # the resource map itself is wrong (an unknown queue, a bad entry)
        raise ApiError("InvalidDefinition", str(exc)) from None
    if refused:
        raise ApiError("InvalidDefinition", "; ".join(refused))
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


def page(items: list[Any], body: dict[str, Any], key: str) -> dict[str, Any]:
    """One page of `items` as `{key: [...], "nextToken"?}` (maxResults 0 or absent: 100)."""
    size = body.get("maxResults") or DEFAULT_PAGE
    if not isinstance(size, int) or not 0 < size <= MAX_PAGE:
        raise ApiError("ValidationException", f"maxResults must be from 0 to {MAX_PAGE}")
    start = 0
    token = body.get("nextToken")
    if token is not None:
        try:
            start = int(base64.urlsafe_b64decode(str(token).encode()).decode().removeprefix("lockgate:"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError("InvalidToken", f"Invalid Token: '{token}'") from None
    answer: dict[str, Any] = {key: items[start : start + size]}
    if start + size < len(items):
        answer["nextToken"] = base64.urlsafe_b64encode(f"lockgate:{start + size}".encode()).decode()
    return answer


def _same_json(left: Any, right: Any) -> bool:
    return json.dumps(left, sort_keys=True) == json.dumps(right, sort_keys=True)


class StepFunctions:
    """The operations, over a lockgate Runtime (its SQL store)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.engine: Any = getattr(runtime.store, "engine", None)
        settings = getattr(runtime, "settings", None)
        arns.configure_from(settings)
        poll = settings.get("asl", "activity_poll_seconds") if settings is not None else None
        # the service holds a poll 60 s; answering just before lets clients with a 60 s read timeout see it
        self.activity_poll_seconds = float(poll) if poll is not None else 59.0

    def _now(self) -> float:
        return float(self.runtime.clock())

    # -- state machines ---------------------------------------------------------------------

    def _machine_row(self, name: str) -> dict[str, Any]:
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            raise ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{machine_arn(name)}'")
        return dict(row)

    def _version_row(self, name: str, version: int) -> dict[str, Any]:
        import sqlalchemy as sa

        from lockgate.store.schema import asl_versions as t

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.machine == name, t.c.version == version)).mappings().first()
        if row is None:
            arn = arns.states("stateMachine", name, str(version))
            raise ApiError("StateMachineDoesNotExist", f"State Machine Does Not Exist: '{arn}'")
        return dict(row)

    def _alias_row(self, name: str, alias: str) -> dict[str, Any]:
        import sqlalchemy as sa

        from lockgate.store.schema import asl_aliases as t

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.machine == name, t.c.alias == alias)).mappings().first()
        if row is None:
            arn = arns.states("stateMachine", name, alias)
            raise ApiError("ResourceNotFound", f"Resource not found: '{arn}'")
        return dict(row)

    def _publish(self, name: str, description: str) -> dict[str, Any]:
        """A new version of the state machine as it is now (the latest one when nothing changed)."""
        import sqlalchemy as sa

        from lockgate.store.schema import asl_versions as t

        row = self._machine_row(name)
        now = self._now()
        with self.engine.begin() as conn:
            latest = conn.execute(sa.select(t).where(t.c.machine == name).order_by(t.c.version.desc()).limit(1))
            last = latest.mappings().first()
            if last is not None and last["definition"] == row["definition"] and last["role_arn"] == row["role_arn"]:
                number, created = int(last["version"]), float(last["created_at"])
            else:
                number, created = (int(last["version"]) + 1 if last is not None else 1), now
                conn.execute(t.insert(), {"machine": name, "version": number, "definition": row["definition"],
                                          "role_arn": row["role_arn"], "description": description,
                                          "created_at": now})  # fmt: skip
        return {"stateMachineVersionArn": arns.states("stateMachine", name, str(number)), "creationDate": created}

    def CreateStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802 - the AWS operation names
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        name, text = check_name(body.get("name"), "state machine"), body.get("definition")
        _definition(text, self.runtime.settings)
        kind = str(body.get("type") or "STANDARD")
        if kind not in ("STANDARD", "EXPRESS"):
            raise ApiError("ValidationException", f"type must be STANDARD or EXPRESS, not {kind!r}")
        now = self._now()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
            if row is not None:
                if row["definition"] != text or row["type"] != kind:
                    raise ApiError("StateMachineAlreadyExists", f"State Machine Already Exists: '{machine_arn(name)}'")
                now = row["created_at"]
            else:
                values = {"name": name, "definition": text, "role_arn": str(body.get("roleArn") or ""),
                          "type": kind, "created_at": now, "updated_at": now}  # fmt: skip
                conn.execute(t.insert(), values)
        self._tag(machine_arn(name), body.get("tags") or [])
        answer: dict[str, Any] = {"stateMachineArn": machine_arn(name), "creationDate": now}
        if body.get("publish"):
            answer["stateMachineVersionArn"] = self._publish(name, str(body.get("versionDescription") or ""))[
                "stateMachineVersionArn"
            ]
        return answer

    def UpdateStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t

        name = _machine_name(body.get("stateMachineArn"))
        self._machine_row(name)
        values: dict[str, Any] = {"updated_at": self._now()}
        if body.get("definition") is not None:
            _definition(body["definition"], self.runtime.settings)
            values["definition"] = body["definition"]
        if body.get("roleArn") is not None:
            values["role_arn"] = body["roleArn"]
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.name == name).values(values))
        answer: dict[str, Any] = {"updateDate": values["updated_at"]}
        if body.get("publish"):
            published = self._publish(name, str(body.get("versionDescription") or ""))
            answer["stateMachineVersionArn"] = published["stateMachineVersionArn"]
        return answer

    def DescribeStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name, qualifier = _machine_ref(body.get("stateMachineArn"))
        row = self._machine_row(name)
        answer = {
            "stateMachineArn": machine_arn(name),
            "name": name,
            "status": "ACTIVE",
            "definition": row["definition"],
            "roleArn": row["role_arn"],
            "type": row["type"],
            "creationDate": row["created_at"],
        }
        if qualifier is not None:
            if not qualifier.isdigit():
                raise ApiError("InvalidArn", "describe an alias with DescribeStateMachineAlias")
            version = self._version_row(name, int(qualifier))
            answer.update(stateMachineArn=arns.states("stateMachine", name, qualifier),
                          definition=version["definition"], roleArn=version["role_arn"],
                          creationDate=version["created_at"], description=version["description"])  # fmt: skip
        return answer

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
        return page(machines, body, "stateMachines")

    def DeleteStateMachine(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.asl.schema import asl_state_machines as t
        from lockgate.store.schema import asl_aliases, asl_tags, asl_versions

        name = _machine_name(body.get("stateMachineArn"))
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.name == name))
            conn.execute(sa.delete(asl_versions).where(asl_versions.c.machine == name))
            conn.execute(sa.delete(asl_aliases).where(asl_aliases.c.machine == name))
            conn.execute(sa.delete(asl_tags).where(asl_tags.c.resource_arn.like(machine_arn(name) + "%")))
        return {}

    def ValidateStateMachineDefinition(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import definition as definitions
        from lockgate.asl import validate

        try:
            definition = definitions.loads(body.get("definition") or "")
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
        if not diagnostics:
            from lockgate.asl.resources import Resources
            from lockgate.core.errors import UsageError

            try:
                refused = Resources.from_settings(self.runtime.settings).refusals(definition)
            except UsageError as exc:  # the resource map of lockgate.toml is wrong
                refused = [str(exc)]
            diagnostics = [{"severity": "ERROR", "code": "PYTHON_MODULE_REFUSED", "message": m, "location": "/States"}
                           for m in refused]  # fmt: skip
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
        from lockgate.core.errors import UsageError

        try:
            resources = Resources.from_settings(self.runtime.settings)
        except UsageError as exc:
            raise ApiError("InvalidDefinition", str(exc)) from None
        refused = resources.refusals({"States": {str(body.get("name") or "TestState"): state}})
        if refused:
            raise ApiError("InvalidDefinition", "; ".join(refused))
        return test_state(state, _input(body.get("input")), resources, variables)

    # -- versions and aliases -----------------------------------------------------------------

    def PublishStateMachineVersion(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        return self._publish(_machine_name(body.get("stateMachineArn")), str(body.get("description") or ""))

    def ListStateMachineVersions(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_versions as t

        name = _machine_name(body.get("stateMachineArn"))
        self._machine_row(name)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.machine == name).order_by(t.c.version.desc())).mappings().all()
        versions = [{"stateMachineVersionArn": arns.states("stateMachine", name, str(r["version"])),
                     "creationDate": r["created_at"]} for r in rows]  # fmt: skip
        return page(versions, body, "stateMachineVersions")

    def DeleteStateMachineVersion(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_aliases, asl_versions

        arn = body.get("stateMachineVersionArn")
        name, qualifier = _machine_ref(arn)
        if qualifier is None or not qualifier.isdigit():
            raise ApiError("InvalidArn", f"Invalid Arn: '{arn}' is not a state machine version ARN")
        with self.engine.begin() as conn:
            for row in conn.execute(sa.select(asl_aliases).where(asl_aliases.c.machine == name)).mappings():
                if any(route["stateMachineVersionArn"] == arn for route in json.loads(row["routing"])):
                    raise ApiError("ConflictException", f"version {arn} is used by the alias {row['alias']}")
            conn.execute(sa.delete(asl_versions).where(asl_versions.c.machine == name,
                                                       asl_versions.c.version == int(qualifier)))  # fmt: skip
        return {}

    def _routing(self, name: str, routing: Any) -> list[dict[str, Any]]:
        if not isinstance(routing, list) or not 1 <= len(routing) <= 2:
            raise ApiError("ValidationException", "routingConfiguration must list one or two versions")
        out: list[dict[str, Any]] = []
        for route in routing:
            arn = route.get("stateMachineVersionArn") if isinstance(route, dict) else None
            weight = route.get("weight") if isinstance(route, dict) else None
            machine, qualifier = _machine_ref(arn)
            if machine != name or qualifier is None or not qualifier.isdigit():
                raise ApiError("ValidationException", f"{arn!r} is not a version of the state machine {name}")
            if not isinstance(weight, int) or not 0 <= weight <= 100:
                raise ApiError("ValidationException", "each weight must be an integer from 0 to 100")
            self._version_row(name, int(qualifier))
            out.append({"stateMachineVersionArn": arn, "weight": weight})
        if sum(route["weight"] for route in out) != 100:
            raise ApiError("ValidationException", "the weights of routingConfiguration must add up to 100")
        if len({route["stateMachineVersionArn"] for route in out}) != len(out):
            raise ApiError("ValidationException", "routingConfiguration names the same version twice")
        return out

    def CreateStateMachineAlias(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_aliases as t

        alias = check_name(body.get("name"), "alias")
        if alias.isdigit():
            raise ApiError("InvalidName", f"Invalid Name: an alias name cannot be only digits: '{alias}'")
        routing = body.get("routingConfiguration")
        first = routing[0].get("stateMachineVersionArn") if isinstance(routing, list) and routing else None
        if not isinstance(first, str):
            raise ApiError("ValidationException", "routingConfiguration must list one or two versions")
        name = _machine_ref(first)[0]
        routes = self._routing(name, routing)
        description = str(body.get("description") or "")
        now = self._now()
        arn = arns.states("stateMachine", name, alias)
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.machine == name, t.c.alias == alias)).mappings().first()
            if row is not None:
                if json.loads(row["routing"]) != routes or row["description"] != description:
                    raise ApiError("ConflictException", f"the alias {arn} exists with another configuration")
                return {"stateMachineAliasArn": arn, "creationDate": row["created_at"]}
            conn.execute(t.insert(), {"machine": name, "alias": alias, "description": description,
                                      "routing": json.dumps(routes), "created_at": now, "updated_at": now})  # fmt: skip
        return {"stateMachineAliasArn": arn, "creationDate": now}

    def _alias_ref(self, arn: Any) -> tuple[str, str]:
        name, qualifier = _machine_ref(arn)
        if qualifier is None or qualifier.isdigit():
            raise ApiError("InvalidArn", f"Invalid Arn: '{arn}' is not a state machine alias ARN")
        return name, qualifier

    def DescribeStateMachineAlias(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        name, alias = self._alias_ref(body.get("stateMachineAliasArn"))
        row = self._alias_row(name, alias)
        return {
            "stateMachineAliasArn": arns.states("stateMachine", name, alias),
            "name": alias,
            "description": row["description"],
            "routingConfiguration": json.loads(row["routing"]),
            "creationDate": row["created_at"],
            "updateDate": row["updated_at"],
        }

    def UpdateStateMachineAlias(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_aliases as t

        name, alias = self._alias_ref(body.get("stateMachineAliasArn"))
        self._alias_row(name, alias)
        values: dict[str, Any] = {"updated_at": self._now()}
        if body.get("routingConfiguration") is not None:
            values["routing"] = json.dumps(self._routing(name, body["routingConfiguration"]))
        if body.get("description") is not None:
            values["description"] = str(body["description"])
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.machine == name, t.c.alias == alias).values(values))
        return {"updateDate": values["updated_at"]}

    def ListStateMachineAliases(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_aliases as t

        name = _machine_name(body.get("stateMachineArn"))
        self._machine_row(name)
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.machine == name).order_by(t.c.alias)).mappings().all()
        aliases = [{"stateMachineAliasArn": arns.states("stateMachine", name, r["alias"]),
                    "creationDate": r["created_at"]} for r in rows]  # fmt: skip
        return page(aliases, body, "stateMachineAliases")

    def DeleteStateMachineAlias(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_aliases as t

        name, alias = self._alias_ref(body.get("stateMachineAliasArn"))
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.machine == name, t.c.alias == alias))
        return {}

    def _target(self, arn: Any) -> tuple[str, str, dict[str, Any]]:
        """(state machine, definition text, extra params) StartExecution runs for a plain, version or alias ARN."""
        name, qualifier = _machine_ref(arn)
        row = self._machine_row(name)
        if qualifier is None:
            return name, row["definition"], {}
        extra: dict[str, Any] = {}
        if not qualifier.isdigit():
            routes = json.loads(self._alias_row(name, qualifier)["routing"])
            chosen = random.choices(routes, weights=[r["weight"] for r in routes])[0]
            extra["stateMachineAliasArn"] = arns.states("stateMachine", name, qualifier)
            qualifier = _machine_ref(chosen["stateMachineVersionArn"])[1]
            assert qualifier is not None
        extra["stateMachineVersionArn"] = arns.states("stateMachine", name, qualifier)
        return name, self._version_row(name, int(qualifier))["definition"], extra

    # -- executions ----------------------------------------------------------------------------

    def StartExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import durable
        from lockgate.core.errors import UsageError

        machine, text, extra = self._target(body.get("stateMachineArn"))
        definition = json.loads(text)
        value = _input(body.get("input"))
        name = check_name(body["name"], "execution") if body.get("name") is not None else None
        try:
            created = durable.create(self.runtime, definition, value, state_machine=machine, name=name, extra=extra)
        except durable.InvalidInput as exc:
            raise ApiError("InvalidExecutionInput", str(exc)) from None
        except UsageError as exc:
            existing = self.runtime.store.find_by_key(durable.execution_key(machine, str(name)))
            if (
                existing is not None
                and existing.status == "RUNNING"
                and _same_json(existing.params.get("input"), value)
            ):
                return {"executionArn": execution_arn(machine, str(name)),
                        "startDate": existing.started_at or existing.created_at}  # fmt: skip
            raise ApiError("ExecutionAlreadyExists", str(exc)) from None
        thread = threading.Thread(target=self._drive, args=(created,), name=f"asl-{created.run_id}", daemon=True)
        thread.start()
        return {"executionArn": execution_arn(machine, created.name), "startDate": self._now()}

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

        machine, text, _ = self._target(body.get("stateMachineArn"))
        definition = json.loads(text)
        value = _input(body.get("input"))
        name = check_name(body["name"], "execution") if body.get("name") else f"sync-{int(self._now() * 1000)}"
        started = self._now()
        result = run_execution(definition, value, resources=Resources.from_settings(self.runtime.settings),
                               context_base=context_base(machine, name))  # fmt: skip
        answer = {
            "executionArn": execution_arn(machine, name),
            "stateMachineArn": machine_arn(machine),
            "name": name,
            "startDate": started,
            "stopDate": self._now(),
            "status": result["status"],
            "input": json.dumps(value),
        }
        if result["status"] == "SUCCEEDED":
            answer["output"] = json.dumps(result["output"])
        else:
            if result.get("error"):
                answer["error"] = result["error"]
            if result.get("cause"):
                answer["cause"] = result["cause"]
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
        for key in ("stateMachineVersionArn", "stateMachineAliasArn"):
            if record.params.get(key):
                summary[key] = record.params[key]
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
        if record.error:
            answer["error"] = record.error
        if record.cause:
            answer["cause"] = record.cause
        return answer

    def DescribeStateMachineForExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        record = self._execution(body.get("executionArn"))
        events = self.runtime.store.history(record.run_id)
        workflow = getattr(events[0], "workflow", None) if events else None
        definition = workflow.get("definition") if isinstance(workflow, dict) else None
        try:
            row: dict[str, Any] = self._machine_row(record.pipeline)
        except ApiError:
            row = {"role_arn": "", "updated_at": record.created_at}
        answer = {
            "stateMachineArn": machine_arn(record.pipeline),
            "name": record.pipeline,
            "definition": json.dumps(definition) if definition is not None else row.get("definition", ""),
            "roleArn": row["role_arn"] or arns.role(),
            "updateDate": row["updated_at"],
        }
        if record.params.get("map_run"):
            answer["mapRunArn"] = record.params["map_run"]
        return answer

    def _known_machine(self, name: str) -> None:
        """StateMachineDoesNotExist unless the machine was created here or has executions (lockgate.toml)."""
        try:
            self._machine_row(name)
        except ApiError:
            if not self.runtime.store.list_runs(pipeline=name, limit=1):
                raise

    def ListExecutions(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        status = body.get("statusFilter")
        if body.get("mapRunArn") is not None:
            from lockgate.asl import map_runs

            if body.get("stateMachineArn") is not None:
                raise ApiError("ValidationException", "give either stateMachineArn or mapRunArn, not both")
            arn = _map_run_arn(body["mapRunArn"])
            if map_runs.find_parent(self.runtime, arn) is None:
                raise ApiError("ResourceNotFound", f"Map Run Does Not Exist: '{arn}'")
            found = [r for r in map_runs.children(self.runtime, arn) if status is None or r.status == status]
            return page([{**self._summary(r), "mapRunArn": arn} for r in found], body, "executions")
        machine_ref = body.get("stateMachineArn")
        machine, qualifier = _machine_ref(machine_ref)
        self._known_machine(machine)
        records = self.runtime.store.list_runs(pipeline=machine, status=status, limit=1_000_000)
        summaries = [self._summary(r) for r in records if r.kind == "asl"]
        if qualifier is not None:
            key = "stateMachineVersionArn" if qualifier.isdigit() else "stateMachineAliasArn"
            summaries = [s for s in summaries if s.get(key) == machine_ref]
        return page(summaries, body, "executions")

    def GetExecutionHistory(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl.durable import replay

        record = self._execution(body.get("executionArn"))
        events = replay(self.runtime.store.history(record.run_id)).machine.history
        if body.get("reverseOrder"):
            events.reverse()
        return page(events, body, "events")

    def StopExecution(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import durable
        from lockgate.core.errors import UsageError

        record = self._execution(body.get("executionArn"))
        try:
            durable.stop(self.runtime, record.run_id, str(body.get("cause") or ""), body.get("error") or None)
        except UsageError as exc:
            raise ApiError("ExecutionNotRunning", str(exc)) from None
        return {"stopDate": self._now()}

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
        return {"redriveDate": self._now()}

    def _redrive(self, run_id: str) -> None:
        from lockgate.asl import redrive

        try:
            redrive.carry_on(self.runtime, run_id)
        except Exception:
            log.exception("execution %s stopped with an error", run_id, extra={"run_id": run_id})

    def ListMapRuns(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import map_runs

        record = self._execution(body.get("executionArn"))
        return page(map_runs.summaries(map_runs.parent_machine(self.runtime, record)), body, "mapRuns")

    def DescribeMapRun(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        from lockgate.asl import map_runs

        arn = _map_run_arn(body.get("mapRunArn"))
        parent = map_runs.find_parent(self.runtime, arn)
        described = map_runs.describe(self.runtime, parent, arn) if parent is not None else None
        if described is None:
            raise ApiError("ResourceNotFound", f"Map Run Does Not Exist: '{arn}'")
        return described

    def UpdateMapRun(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """New maxConcurrency and tolerated failures for a running Map Run; its driver applies them at its next poll."""
        from lockgate.asl import callbacks, map_runs

        arn = _map_run_arn(body.get("mapRunArn"))
        settings: dict[str, Any] = {}
        for key, low, high in (("maxConcurrency", 0, 10_000), ("toleratedFailureCount", 0, 100_000_000),
                               ("toleratedFailurePercentage", 0, 100)):  # fmt: skip
            value = body.get(key)
            if value is None:
                continue
            integer = key != "toleratedFailurePercentage"
            if (
                isinstance(value, bool)
                or not isinstance(value, int if integer else (int, float))
                or not low <= value <= high
            ):
                raise ApiError("ValidationException", f"{key} must be a number from {low} to {high}")
            settings[key] = value
        if not settings:
            raise ApiError(
                "ValidationException", "give maxConcurrency, toleratedFailureCount or toleratedFailurePercentage"
            )
        parent = map_runs.find_parent(self.runtime, arn)
        described = map_runs.describe(self.runtime, parent, arn) if parent is not None else None
        if described is None:
            raise ApiError("ResourceNotFound", f"Map Run Does Not Exist: '{arn}'")
        if described["status"] != "RUNNING":
            raise ApiError("ValidationException", f"Map Run {arn} is {described['status']}; only a running one changes")
        callbacks.update_map_run(self.engine, parent.run_id, arn, settings, self._now())
        return {}

    # -- task tokens -------------------------------------------------------------------------

    def _send(self, body: dict[str, Any], kind: str, **fields: Any) -> dict[str, Any]:
        from lockgate.asl import callbacks
        from lockgate.core.errors import UsageError

        try:
            callbacks.send(self.engine, str(body.get("taskToken") or ""), kind, self._now(), **fields)
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

    # -- tags ----------------------------------------------------------------------------------

    def _tagged(self, arn: Any) -> str:
        """The ARN of an existing state machine, version, alias or activity; ResourceNotFound else."""
        if isinstance(arn, str) and ":activity:" in arn:
            self._activity_row(_activity_name(arn))
            return arn
        try:
            name, qualifier = _machine_ref(arn)
        except ApiError:
            raise ApiError("InvalidArn", f"Invalid Arn: '{arn}'") from None
        try:
            self._machine_row(name)
            if qualifier is not None:
                self._version_row(name, int(qualifier)) if qualifier.isdigit() else self._alias_row(name, qualifier)
        except ApiError:
            raise ApiError("ResourceNotFound", f"Resource not found: '{arn}'") from None
        return str(arn)

    def _tag(self, arn: str, tags: Any) -> None:
        import sqlalchemy as sa

        from lockgate.store.schema import asl_tags as t

        if not isinstance(tags, list) or not all(isinstance(tag, dict) and isinstance(tag.get("key"), str)
                                                  for tag in tags):  # fmt: skip
            raise ApiError("ValidationException", "tags must be a list of {key, value}")
        with self.engine.begin() as conn:
            for tag in tags:
                conn.execute(sa.delete(t).where(t.c.resource_arn == arn, t.c.key == tag["key"]))
                conn.execute(t.insert(), {"resource_arn": arn, "key": tag["key"], "value": str(tag.get("value", ""))})
            count = conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.resource_arn == arn)).scalar()
            if count > 50:
                raise ApiError("TooManyTags", f"Too many tags: {arn} would have {count}; the limit is 50")

    def TagResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        self._tag(self._tagged(body.get("resourceArn")), body.get("tags") or [])
        return {}

    def UntagResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_tags as t

        arn = self._tagged(body.get("resourceArn"))
        keys = [str(key) for key in body.get("tagKeys") or []]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.resource_arn == arn, t.c.key.in_(keys)))
        return {}

    def ListTagsForResource(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_tags as t

        arn = self._tagged(body.get("resourceArn"))
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).where(t.c.resource_arn == arn).order_by(t.c.key)).mappings().all()
        return {"tags": [{"key": r["key"], "value": r["value"]} for r in rows]}

    # -- activities ----------------------------------------------------------------------------

    def _activity_row(self, name: str) -> dict[str, Any]:
        import sqlalchemy as sa

        from lockgate.store.schema import asl_activities as t

        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
        if row is None:
            raise ApiError("ActivityDoesNotExist", f"Activity Does Not Exist: '{arns.activity(name)}'")
        return dict(row)

    def CreateActivity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_activities as t

        name = check_name(body.get("name"), "activity")
        now = self._now()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(t).where(t.c.name == name)).mappings().first()
            if row is None:
                conn.execute(t.insert(), {"name": name, "created_at": now})
            else:
                now = row["created_at"]
        self._tag(arns.activity(name), body.get("tags") or [])
        return {"activityArn": arns.activity(name), "creationDate": now}

    def DescribeActivity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        row = self._activity_row(_activity_name(body.get("activityArn")))
        return {"activityArn": arns.activity(row["name"]), "name": row["name"], "creationDate": row["created_at"]}

    def ListActivities(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.store.schema import asl_activities as t

        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t).order_by(t.c.name)).mappings().all()
        items = [{"activityArn": arns.activity(r["name"]), "name": r["name"], "creationDate": r["created_at"]}
                 for r in rows]  # fmt: skip
        return page(items, body, "activities")

    def DeleteActivity(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        import sqlalchemy as sa

        from lockgate.asl import activities
        from lockgate.store.schema import asl_activities, asl_tags

        name = _activity_name(body.get("activityArn"))
        with self.engine.begin() as conn:
            conn.execute(sa.delete(asl_activities).where(asl_activities.c.name == name))
            conn.execute(sa.delete(asl_tags).where(asl_tags.c.resource_arn == arns.activity(name)))
        activities.forget(self.engine, name)
        return {}

    def GetActivityTask(self, body: dict[str, Any]) -> dict[str, Any]:  # noqa: N802
        """The oldest waiting task of the activity, waiting for one up to `activity_poll_seconds` (59)."""
        from lockgate.asl import activities

        name = _activity_name(body.get("activityArn"))
        self._activity_row(name)
        worker = str(body.get("workerName") or "")[:80]
        deadline = time.monotonic() + self.activity_poll_seconds
        pause = 0.05
        while True:
            task = activities.take(self.engine, name, worker, self._now())
            if task is not None:
                return task
            left = deadline - time.monotonic()
            if left <= 0:
                return {}
            time.sleep(min(pause, left))
            pause = min(pause * 2, 0.5)

    def operation(self, name: str) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
        return getattr(self, name, None) if name[:1].isupper() else None


def router(runtime: Any) -> Any:
    from fastapi import APIRouter, Request
    from fastapi.responses import Response
    from starlette.concurrency import run_in_threadpool

    global _hinted
    api = APIRouter(tags=["stepfunctions"])
    service = StepFunctions(runtime)
    if not _hinted:
        _hinted = True
        print(HOST_PREFIX_HINT, file=sys.stderr)

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
