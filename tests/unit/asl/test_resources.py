"""Task resources: lockgate tasks, Python callables, HTTP endpoints and mapped AWS ARNs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from lockgate.asl.resources import PythonPolicy, Resources, TaskFailure, allow_folder, register_task
from lockgate.config import load
from lockgate.dag.task import task

allow_folder(Path(__file__).parent)  # python:test_resources:... names this module


def triple(n: int) -> int:
    return n * 3


def test_registered_task_gets_an_object_input_as_keyword_arguments() -> None:
    register_task("test_resources.add", lambda a, b: a + b)
    assert Resources().call("lockgate:task:test_resources.add", {"a": 2, "b": 5}) == 7


def test_a_non_object_input_is_one_positional_argument() -> None:
    register_task("test_resources.count", len)
    assert Resources().call("lockgate:task:test_resources.count", [1, 2, 3]) == 3


def test_task_decorated_functions_by_name_and_key() -> None:
    @task(name="asl_resource_shout")
    def shout(text: str) -> str:
        return text.upper()

    assert Resources().call("lockgate:task:asl_resource_shout", {"text": "hi"}) == "HI"
    assert Resources().call(f"lockgate:task:{shout.key}", {"text": "yo"}) == "YO"


def test_every_built_in_task_is_found_by_its_name_even_in_a_module_of_another_name() -> None:
    import lockgate.tasks
    from lockgate.asl.resources import find_task

    for name in lockgate.tasks.__all__:  # spark_status lives in lockgate.tasks.spark, to_parquet in .parquet
        assert find_task(name) is getattr(lockgate.tasks, name).fn, name


def test_unknown_task_fails_with_task_failed() -> None:
    with pytest.raises(TaskFailure) as info:
        Resources().call("lockgate:task:no_such_task_anywhere", {})
    assert info.value.error == "States.TaskFailed" and "no_such_task_anywhere" in info.value.cause


def test_an_exception_becomes_its_error_name_and_message() -> None:
    def broken(**_: Any) -> None:
        raise ValueError("bad row 3")

    register_task("test_resources.broken", broken)
    with pytest.raises(TaskFailure) as info:
        Resources().call("lockgate:task:test_resources.broken", {})
    assert (info.value.error, info.value.cause) == ("ValueError", "bad row 3")


def test_python_target() -> None:
    assert Resources().call("python:test_resources:triple", 4) == 12


def test_mapped_lambda_arn_returns_the_function_output() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:Triple"
    assert Resources({arn: "python:test_resources:triple"}).call(arn, {"n": 2}) == 6


def test_lambda_invoke_uses_function_name_and_wraps_the_payload() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:Triple"
    resources = Resources({arn: "python:test_resources:triple"})
    answer = resources.call("arn:aws:states:::lambda:invoke", {"FunctionName": arn, "Payload": {"n": 5}})
    assert answer["Payload"] == 15 and answer["StatusCode"] == 200
    by_name = resources.call("arn:aws:states:::lambda:invoke", {"FunctionName": "Triple", "Payload": 1})
    assert by_name["Payload"] == 3


def test_an_unmapped_arn_fails_naming_the_arn() -> None:
    arn = "arn:aws:states:::glue:startJobRun.sync"
    with pytest.raises(TaskFailure) as info:
        Resources().call(arn, {})
    assert info.value.error == "States.TaskFailed"
    assert arn in info.value.cause


def test_sync_suffix_falls_back_to_the_base_arn() -> None:
    resources = Resources({"arn:aws:states:::glue:startJobRun": "python:test_resources:triple"})
    assert resources.call("arn:aws:states:::glue:startJobRun.sync", 2) == 6


def test_resource_map_comes_from_lockgate_toml(home: Path) -> None:
    Path("lockgate.toml").write_text(
        '[asl.resources]\n"arn:aws:sns:us-east-1:1:topic" = "python:test_resources:triple"\n'
    )
    assert Resources.from_settings(load()).call("arn:aws:sns:us-east-1:1:topic", 3) == 9


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status = 500 if body.get("fail") else 200
        data = json.dumps({"got": body, "token": self.headers.get("X-Lockgate-Task-Token")}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def test_http_target_posts_json_to_a_real_server(echo_url: str) -> None:
    resources = Resources({"arn:aws:lambda:us-east-1:1:function:Hook": f"http:{echo_url}"})
    answer = resources.call("arn:aws:lambda:us-east-1:1:function:Hook", {"a": 1}, token="tok")
    assert answer == {"got": {"a": 1}, "token": "tok"}
    with pytest.raises(TaskFailure) as info:
        resources.call("arn:aws:lambda:us-east-1:1:function:Hook", {"fail": True})
    assert info.value.error == "lockgate.HTTP500"


DANGEROUS = ["os:system", "subprocess:run", "builtins:eval", "shutil:rmtree", "importlib:import_module"]


@pytest.mark.parametrize("target", DANGEROUS)
def test_python_resources_outside_the_allowed_modules_are_refused(target: str) -> None:
    resources = Resources(policy=PythonPolicy((), (Path(__file__).parent,)))
    with pytest.raises(TaskFailure) as refused:
        resources.call(f"python:{target}", "echo owned")
    module = target.partition(":")[0]
    assert f"module {module} is not in the pipelines folder nor in [asl] python_modules" in refused.value.cause


def test_validation_names_each_refused_state_nested_ones_and_mapped_arns_too() -> None:
    resources = Resources(
        {"arn:aws:lambda:us-east-1:1:function:sh": "python:subprocess:check_output"},
        policy=PythonPolicy(("json",), (Path(__file__).parent,)),
    )
    definition = {
        "StartAt": "Shell",
        "States": {
            "Shell": {"Type": "Task", "Resource": "python:os:system", "Next": "Fan"},
            "Fan": {"Type": "Parallel", "Next": "Ok", "Branches": [{"StartAt": "Deep", "States": {
                "Deep": {"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "Inner", "States": {
                    "Inner": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                              "Parameters": {"FunctionName": "sh"}, "End": True}}}}}}]},
            "Ok": {"Type": "Task", "Resource": "python:test_resources:triple", "Next": "Listed"},
            "Listed": {"Type": "Task", "Resource": "python:json.decoder:JSONDecoder", "End": True},
        },
    }  # fmt: skip
    refused = resources.refusals(definition)
    assert refused == [
        "state Shell: python:os:system: module os is not in the pipelines folder nor in [asl] python_modules "
        "of lockgate.toml, so it may not run",
        "state Inner: python:subprocess:check_output: module subprocess is not in the pipelines folder nor in "
        "[asl] python_modules of lockgate.toml, so it may not run",
    ]


def test_python_modules_setting_allows_a_listed_package(tmp_path: Path) -> None:
    (tmp_path / "lockgate.toml").write_text('[asl]\npython_modules = ["json"]\n')
    resources = Resources.from_settings(load(environ={}, cwd=tmp_path))
    assert resources.call("python:json:dumps", [1]) == "[1]"
    with pytest.raises(TaskFailure):
        resources.call("python:os:getcwd", {})


def test_built_in_modules_are_refused_and_a_missing_module_fails_as_an_import_without_retries() -> None:
    resources = Resources(policy=PythonPolicy((), (Path(__file__).parent,)))
    for target in ("posix:system", "builtins:exec", "sys:exit"):
        with pytest.raises(TaskFailure) as refused:
            resources.call(f"python:{target}", {})
        assert refused.value.error == "lockgate.ImportFailed" and "may not run" in refused.value.cause
    with pytest.raises(TaskFailure) as missing:
        resources.call("python:lockgate_no_such_module_here:f", {})
    assert missing.value.error == "lockgate.ImportFailed" and "cannot import" in missing.value.cause


ENRICH = "arn:aws:lambda:us-east-1:123456789012:function:enrich"


def test_a_resource_map_table_routes_what_the_executor_runs() -> None:
    table = {ENRICH: {"resource": "python:enrich:run", "queue": "spark", "pool": "spark", "priority": 10}}
    resources = Resources(table, queues=["default", "spark"])
    direct = resources.dispatch(ENRICH, {"day": "d"})
    assert direct is not None and direct.target == "python:enrich:run" and direct.payload == {"day": "d"}
    assert (direct.route.queue, direct.route.pool, direct.route.priority) == ("spark", "spark", 10)
    assert not direct.lambda_answer
    invoked = resources.dispatch("arn:aws:states:::lambda:invoke", {"FunctionName": "enrich", "Payload": [1]})
    assert invoked is not None and invoked.lambda_answer and invoked.payload == [1]
    assert invoked.route.queue == "spark"
    plain = Resources({ENRICH: "python:enrich:run"}).dispatch(ENRICH + ".sync", {})
    assert plain is not None and (plain.route.queue, plain.route.pool, plain.route.priority) == ("default", None, 0)


def test_io_resources_stay_with_the_driver() -> None:
    resources = Resources({"arn:aws:states:::http:invoke": "http://etl.internal/run"})
    assert resources.dispatch("arn:aws:states:::http:invoke", {}) is None
    assert resources.dispatch("https://etl.internal/run", {}) is None
    assert resources.dispatch("arn:aws:states:::sns:publish", {"TopicArn": "t"}) is None
    assert resources.dispatch("lockgate:task:validate.waitForTaskToken", {}) is None
    assert resources.dispatch("lockgate:items:read", {}) is None
    assert resources.dispatch("arn:aws:lambda:us-east-1:1:function:unmapped", {}) is None  # fails in the driver
    assert resources.dispatch("lockgate:task:validate", {}) is not None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"resource": "python:m:f", "queue": "gpu"}, "unknown queue 'gpu' (queues: default, spark)"),
        ({"queue": "spark"}, 'needs resource = "python:module:function"'),
        ({"resource": "python:m:f", "slots": 2}, "unknown keys slots"),
        ({"resource": "python:m:f", "priority": "high"}, "priority must be a whole number"),
        ({"resource": "python:m:f", "pool": 3}, "pool must be a name"),
    ],
)
def test_a_bad_resource_map_entry_is_refused_naming_it(entry: dict[str, Any], message: str) -> None:
    from lockgate.core.errors import UsageError

    with pytest.raises(UsageError) as info:
        Resources({ENRICH: entry}, queues=["default", "spark"], where="/srv/lockgate.toml")
    assert str(info.value).startswith(f'/srv/lockgate.toml [asl.resources."{ENRICH}"]: ')
    assert message in str(info.value)


def test_a_served_folder_whose_resource_map_names_an_unknown_queue_is_refused_when_loaded(tmp_path: Path) -> None:
    from lockgate.core.errors import UsageError
    from lockgate.triggers.state_machines import load_state_machines

    (tmp_path / "m.asl.json").write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}))
    (tmp_path / "lockgate.toml").write_text(
        '[asl.state_machines.m]\ndefinition = "m.asl.json"\n'
        f'[asl.resources."{ENRICH}"]\nresource = "python:enrich:run"\nqueue = "gpu"\n'
    )
    with pytest.raises(UsageError, match=r"unknown queue 'gpu' \(queues: default\)") as info:
        load_state_machines(tmp_path)
    assert str(tmp_path / "lockgate.toml") in str(info.value)
    (tmp_path / "lockgate.toml").write_text(
        '[asl.state_machines.m]\ndefinition = "m.asl.json"\n'
        f'[asl.resources."{ENRICH}"]\nresource = "python:enrich:run"\nqueue = "default"\npriority = 3\n'
    )
    assert [m.name for m in load_state_machines(tmp_path)] == ["m"]
