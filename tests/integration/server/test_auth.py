"""Who may do what: every route with no token, a viewer, an operator and an admin token; hosts,
sessions, CSRF, SigV4 refusals and security headers (FastAPI's TestClient, no browser)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_token

from lockgate.runtime import default_runtime
from lockgate.server.auth import ADMIN, PUBLIC, SFN_PATH, required_role, routes_of

pytestmark = pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient` is deprecated")
BASE = "http://127.0.0.1"
ROLES = ("viewer", "operator", "admin")


@pytest.fixture
def app(home: Path) -> Any:
    from lockgate.server.app import create_app

    app = create_app(default_runtime())

    @app.get("/api/brand-new")  # a route nobody gave a role: admin only
    def brand_new() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.fixture
def tokens(home: Path) -> dict[str, str]:
    return {role: make_token(f"t-{role}", role).secret for role in ROLES}


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url=BASE, follow_redirects=False) as client:
        yield client


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _walk(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) of the app, from the OpenAPI document and the UI's own routes."""
    documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
    every = {(m, p) for p, methods in routes_of(app) for m in methods if m != "HEAD"}
    assert documented <= every
    return sorted(every - {("POST", SFN_PATH)})  # the Step Functions endpoint: its own test below


def test_every_route_answers_each_role_as_the_roles_table_says(app: Any, client: Any, tokens: dict[str, str]) -> None:
    walked = _walk(app)
    assert ("GET", "/api/brand-new") in walked and len(walked) > 40
    for method, path in walked:
        need = required_role(method, path, {})
        url = _url(path)
        anonymous = client.request(method, url)
        if need == PUBLIC:
            assert "www-authenticate" not in anonymous.headers and anonymous.status_code != 403, (method, path)
        else:
            assert anonymous.status_code == 401, (method, path, anonymous.status_code)
        for role, token in tokens.items():
            answer = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            if need == PUBLIC:
                assert "www-authenticate" not in answer.headers and answer.status_code != 403, (method, path)
            elif ROLES.index(role) >= ROLES.index(need):
                assert answer.status_code not in (401, 403), (method, path, role, answer.status_code, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.status_code)
    assert required_role("GET", "/api/brand-new", {}) == ADMIN
    assert client.get("/api/brand-new", headers={"Authorization": f"Bearer {tokens['admin']}"}).json() == {"ok": True}


def test_reading_acting_and_administering_work_for_the_roles_that_may(client: Any, tokens: dict[str, str]) -> None:
    def call(role: str, method: str, url: str, **kw: Any) -> Any:
        return client.request(method, url, headers={"Authorization": f"Bearer {tokens[role]}"}, **kw)

    assert client.get("/api/health").json() == {"status": "ok"}
    assert call("viewer", "GET", "/api/runs").status_code == 200
    assert call("viewer", "GET", "/metrics").status_code == 200
    assert client.get("/metrics").status_code == 401
    assert call("operator", "POST", "/api/topics", json={"name": "ops"}).status_code == 403
    assert call("admin", "POST", "/api/topics", json={"name": "ops"}).status_code == 201
    assert call("operator", "POST", "/api/topics/ops/publish", json={"subject": "s", "message": "m"}).status_code == 202
    assert client.get("/api/runs", headers={"Authorization": "Bearer lgt_0000000000000000_nope"}).status_code == 401
    assert client.get("/api/runs", headers={"Authorization": f"Basic {tokens['admin']}"}).status_code == 401


def test_revoked_and_expired_tokens_are_refused(client: Any, home: Path) -> None:
    from lockgate.server.tokens import TokenStore

    store = TokenStore.of(default_runtime())
    soon = store.create("short", "viewer", expires_in=60)
    gone = store.create("gone", "viewer")
    assert client.get("/api/runs", headers={"Authorization": f"Bearer {gone.secret}"}).status_code == 200
    store.revoke("gone")
    _clear_caches(client)  # the server keeps each lookup for a few seconds
    assert client.get("/api/runs", headers={"Authorization": f"Bearer {gone.secret}"}).status_code == 401
    store.clock = lambda: 10**12  # far in the future: the 60 s token has expired
    assert store.check(soon.secret) is None
    assert store.check(soon.secret[:-1] + ("A" if soon.secret[-1] != "A" else "B")) is None


def _clear_caches(client: Any) -> None:
    layer = client.app.middleware_stack
    while layer is not None:
        if hasattr(layer, "tokens"):
            layer.tokens._cache.clear()
            return
        layer = getattr(layer, "app", None)
    raise AssertionError("no auth middleware in the stack")


def test_a_forged_host_header_is_refused(client: Any, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.get("/api/runs", headers={**headers, "Host": "evil.example"}).status_code == 400
    assert client.get("/api/health", headers={"Host": "rebound.attacker.test:8710"}).status_code == 400
    for good in ("localhost:8710", "127.0.0.1", "[::1]:8710"):
        assert client.get("/api/runs", headers={**headers, "Host": good}).status_code == 200, good


def test_allowed_hosts_setting_and_public_metrics(home: Path, monkeypatch: Any) -> None:
    from fastapi.testclient import TestClient

    from lockgate.server.app import create_app

    Path("lockgate.toml").write_text('[server]\nallowed_hosts = ["lockgate.internal"]\npublic_metrics = true\n')
    with TestClient(create_app(default_runtime()), base_url="http://lockgate.internal") as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/api/runs").status_code == 401
        assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 400


def _login(client: Any, token: str) -> str:
    answer = client.post("/ui/login", data={"token": token, "next": "/ui/pipelines"})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/pipelines"
    cookie = answer.headers["set-cookie"]
    assert (
        "lockgate_session=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    page = client.get("/ui/pipelines")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    assert found, "the page's forms carry the CSRF token"
    return found.group(1)


def test_ui_login_session_and_csrf(client: Any, tokens: dict[str, str]) -> None:
    page = client.get("/ui/runs", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/ui/login?next=")
    assert client.get("/ui/login").status_code == 200
    bad = client.post("/ui/login", data={"token": "lgt_0000000000000000_wrong", "next": "/"})
    assert bad.status_code == 401 and "not valid" in bad.text
    assert (
        client.post("/ui/login", data={"token": tokens["viewer"], "next": "https://evil.example/"}).headers["location"]
        == "/"
    )

    csrf = _login(client, tokens["operator"])
    # a UI action without its CSRF token is refused, with it it goes through
    assert client.post("/ui/pipelines/nothing/pause").status_code == 403
    assert client.post("/ui/pipelines/nothing/pause", data={"csrf_token": "0" * 64}).status_code == 403
    assert client.post("/ui/pipelines/nothing/pause", headers={"X-CSRF-Token": csrf}).status_code == 409
    assert client.post("/ui/pipelines/nothing/pause", data={"csrf_token": csrf}).status_code == 409
    # the session cookie alone never authenticates /api
    assert client.get("/api/runs").status_code == 401
    assert client.post("/api/pipelines/nothing/pause").status_code == 401
    # a tampered cookie is no session
    client.cookies.set("lockgate_session", client.cookies["lockgate_session"][:-2] + "xx")
    assert client.get("/ui/runs").status_code == 401


def test_a_viewer_session_may_read_but_not_act(client: Any, tokens: dict[str, str]) -> None:
    csrf = _login(client, tokens["viewer"])
    assert client.post("/ui/pipelines/nothing/pause", headers={"X-CSRF-Token": csrf}).status_code == 403
    assert client.post("/ui/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/ui/runs").status_code == 401


def test_step_functions_endpoint_refuses_like_the_service(client: Any, tokens: dict[str, str]) -> None:
    def call(operation: str, body: dict[str, Any], **headers: str) -> Any:
        return client.post("/", content=json.dumps(body), headers={"X-Amz-Target": f"AWSStepFunctions.{operation}",
                           "Content-Type": "application/x-amz-json-1.0", **headers})  # fmt: skip

    missing = call("ListStateMachines", {})
    assert missing.status_code == 403 and missing.json()["__type"] == "MissingAuthenticationTokenException"
    viewer = {"Authorization": f"Bearer {tokens['viewer']}"}
    assert call("ListStateMachines", {}, **viewer).json() == {"stateMachines": []}
    denied = call("StartExecution", {"stateMachineArn": "arn:aws:states:local:000000000000:stateMachine:m"}, **viewer)
    assert denied.status_code == 400 and denied.json()["__type"] == "AccessDeniedException"
    denied = call("TestState", {"definition": '{"Type": "Pass", "End": true}'}, **viewer)
    assert denied.json()["__type"] == "AccessDeniedException"
    operator = {"Authorization": f"Bearer {tokens['operator']}"}
    assert (
        call("TestState", {"definition": '{"Type": "Pass", "End": true}', "input": "{}"}, **operator).status_code == 200
    )
    unknown = "AWS4-HMAC-SHA256 Credential=AKLGNOSUCHKEY0000000/20261202/us-east-1/states/aws4_request, " \
              "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64  # fmt: skip
    stamp = __import__("time").strftime("%Y%m%dT%H%M%SZ", __import__("time").gmtime())
    refused = call("ListStateMachines", {}, Authorization=unknown, **{"X-Amz-Date": stamp})
    assert refused.status_code == 400 and refused.json()["__type"] == "UnrecognizedClientException"


def test_signed_requests_with_a_wrong_secret_or_a_changed_body_are_refused(home: Path, client: Any) -> None:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    created = make_token("aws-op", "operator", aws_key=True)
    key_id, secret = created.token.aws_access_key_id, created.aws_secret_access_key
    assert key_id and secret

    def signed(with_secret: str, body: bytes, sent: bytes | None = None) -> Any:
        headers = {"X-Amz-Target": "AWSStepFunctions.ListStateMachines", "Content-Type": "application/x-amz-json-1.0"}
        request = AWSRequest(method="POST", url=f"{BASE}/", data=body, headers=headers)
        SigV4Auth(Credentials(key_id, with_secret), "states", "us-east-1").add_auth(request)
        return client.post("/", content=sent if sent is not None else body, headers=dict(request.headers.items()))

    assert signed(secret, b"{}").json() == {"stateMachines": []}
    wrong = signed("x" * 40, b"{}")
    assert wrong.status_code == 403 and wrong.json()["__type"] == "InvalidSignatureException"
    changed = signed(secret, b"{}", sent=b'{"maxResults": 1}')
    assert changed.status_code == 403 and changed.json()["__type"] == "InvalidSignatureException"


def test_security_headers_and_plain_text_logs(client: Any, tokens: dict[str, str]) -> None:
    from tests.integration.server.test_ui_pages import P, run

    done = run(P.ui_boom, label="<script>alert(1)</script>")
    headers = {"Authorization": f"Bearer {tokens['viewer']}"}
    for url in (f"/api/runs/{done.run_id}/logs/explode/text", f"/ui/runs/{done.run_id}/logs/explode/text"):
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, url
        assert answer.headers["content-type"].startswith("text/plain")
        assert answer.headers["x-content-type-options"] == "nosniff"
    page = client.get(f"/ui/runs/{done.run_id}", headers=headers)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>alert(1)</script>" not in page.text
    assert client.get("/api/health").headers["x-content-type-options"] == "nosniff"


def test_actions_through_the_api_name_their_token_in_the_history(client: Any, tokens: dict[str, str]) -> None:
    runtime = default_runtime()
    run_id = runtime.enqueue("nothing_here", {})
    answer = client.post(f"/api/runs/{run_id}/cancel", headers={"Authorization": f"Bearer {tokens['operator']}"})
    assert answer.status_code == 200
    (aborted,) = runtime.store.history(run_id)
    assert aborted.type == "RunAborted" and aborted.by == "t-operator"
    shown = client.get(f"/api/runs/{run_id}", headers={"Authorization": f"Bearer {tokens['viewer']}"}).json()
    assert shown["history"][0]["by"] == "t-operator"


def test_python_resources_outside_the_allowed_modules_are_refused_for_any_role(
    client: Any, tokens: dict[str, str], tmp_path: Path
) -> None:
    admin = {"Authorization": f"Bearer {tokens['admin']}", "Content-Type": "application/x-amz-json-1.0"}
    witness = tmp_path / "owned"
    shell = {"Type": "Task", "Resource": "python:os:system", "End": True}

    def call(operation: str, body: dict[str, Any]) -> Any:
        return client.post(
            "/", content=json.dumps(body), headers={**admin, "X-Amz-Target": f"AWSStepFunctions.{operation}"}
        )

    tested = call("TestState", {"definition": json.dumps(shell), "input": json.dumps(f"touch {witness}")})
    assert tested.status_code == 400 and tested.json()["__type"] == "InvalidDefinition"
    assert "state TestState: python:os:system: module os is not in the pipelines folder" in tested.json()["message"]
    machine = {"StartAt": "Run", "States": {"Run": {**shell, "Resource": "python:subprocess:getoutput"}}}
    created = call("CreateStateMachine", {"name": "evil", "definition": json.dumps(machine), "roleArn": "r"})
    assert created.json()["__type"] == "InvalidDefinition" and "state Run" in created.json()["message"]
    assert "module subprocess" in created.json()["message"]
    assert not witness.exists()


def test_validate_state_machine_definition_reports_a_refused_python_module(client: Any, tokens: dict[str, str]) -> None:
    machine = {"StartAt": "Run", "States": {"Run": {"Type": "Task", "Resource": "python:os:popen", "End": True}}}
    headers = {"Authorization": f"Bearer {tokens['viewer']}", "Content-Type": "application/x-amz-json-1.0",
               "X-Amz-Target": "AWSStepFunctions.ValidateStateMachineDefinition"}  # fmt: skip
    answer = client.post("/", content=json.dumps({"definition": json.dumps(machine)}), headers=headers)
    found = answer.json()
    assert found["result"] == "FAIL" and "state Run: python:os:popen: module os" in found["diagnostics"][0]["message"]


def test_tokens_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    import uuid

    import sqlalchemy as sa

    from lockgate.server.tokens import TokenStore
    from lockgate.store.sql import SqlStore

    schema = f"tokens_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    store = SqlStore(f"{postgres_url}?options=-csearch_path%3D{schema}")
    try:
        tokens = TokenStore(store.engine, b"k" * 32)
        made = tokens.create("pg", "operator", expires_in=3600, aws_key=True)
        assert tokens.check(made.secret) == made.token
        key_id = made.token.aws_access_key_id
        assert key_id is not None and tokens.by_access_key(key_id) == (made.token, made.aws_secret_access_key)
        tokens.revoke("pg")
        assert tokens.check(made.secret) is None and [t.status(0) for t in tokens.list()] == ["revoked"]
    finally:
        store.engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
