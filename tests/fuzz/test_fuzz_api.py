"""The REST API from its own OpenAPI document (schemathesis): no generated request gets a 500."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from lockgate import pipeline as lockgate_pipeline
from lockgate import task as lockgate_task

schemathesis = pytest.importorskip("schemathesis")

KNOWN: dict[str, str] = {}


@lockgate_task
def _seed_step() -> int:
    return 1


@lockgate_pipeline
def _seeded():
    return _seed_step()


EXAMPLES = max(1, int(os.environ.get("LOCKGATE_FUZZ_EXAMPLES", "100")) // 5)


@pytest.fixture
def api_schema(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import lockgate
    from lockgate.runtime import default_runtime
    from lockgate.server.app import create_app

    home: Path = tmp_path_factory.mktemp("api") / ".lockgate"
    monkeypatch.setenv("LOCKGATE_HOME", str(home))
    monkeypatch.setenv("LOCKGATE_SERVER__ALLOWED_HOSTS", "*")  # the test client's own host name
    runtime = default_runtime()
    run = lockgate.run(_seeded, executor="inline")  # a real run, so run routes reach past their 404
    KNOWN.update(run_id=run.run_id, step="_seed_step", name="_seeded")
    from lockgate.server.tokens import TokenStore

    KNOWN["token"] = str(TokenStore.of(runtime).create("fuzz", "admin").secret)
    app = create_app(runtime)
    yield schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Authorization": "Bearer " + KNOWN["token"]})


@pytest.fixture
def auth_headers(api_schema: Any) -> dict[str, str]:
    """The headers every generated request carries: an admin token, so requests reach the routes."""
    return {"Authorization": "Bearer " + KNOWN["token"]}


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")
def test_no_generated_request_gets_a_server_error(api_schema: Any, auth_headers: dict[str, str]) -> None:
    from hypothesis import given

    failures: list[str] = []
    answered: set[int] = set()
    walked = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        walked += 1

        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(operation.as_strategy())
        def check(case: Any) -> None:
            for known in (False, True):  # as generated, then aimed at the run and names that exist
                if known and not set(case.path_parameters or {}) & set(KNOWN):
                    continue
                if known:
                    case.path_parameters = {k: KNOWN.get(k, v) for k, v in case.path_parameters.items()}
                response = case.call(headers=auth_headers)
                answered.add(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} {case.query or ''} {case.body!r:.200}: "
                                    f"{response.status_code} {response.text[:300]}")  # fmt: skip

        check()
    assert walked > 10, "the OpenAPI document lists almost no routes"
    assert not failures, "\n".join(failures[:20])
    assert answered & {200, 201}, f"no generated request got past authentication: {sorted(answered)}"
