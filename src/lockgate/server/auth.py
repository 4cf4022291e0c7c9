"""Who may do what on the HTTP server: one ASGI middleware in front of every route.

Each request is matched to its route; `required_role` gives the role that route needs from one
table (RULES), and a route missing from it needs `admin`: a new route is closed until someone
decides who may call it. The middleware then:

- refuses a Host header the server does not serve (400), against DNS rebinding;
- finds the caller: `Authorization: Bearer <token>` everywhere; an AWS SigV4 signature on the
  Step Functions endpoint (`POST /`); the signed `lockgate_session` cookie on UI routes only, so
  a page of another origin can never act through `/api` for a logged-in user;
- answers 401 without a valid caller, 403 for a role that may not;
- for a cookie-authenticated UI request that changes state, demands the session's CSRF token
  (`X-CSRF-Token` header or `csrf_token` form field), else 403;
- names the caller for the history (lockgate.core.history.ACTOR) and adds security headers.
"""

from __future__ import annotations

import calendar
import contextvars
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, quote

from lockgate.core import history
from lockgate.server.tokens import PREFIX, RANK, Token, TokenStore, server_secret

log = logging.getLogger(__name__)

PUBLIC = "public"
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
COOKIE = "lockgate_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_SECONDS = 12 * 3600
MAX_FORM_BYTES = 1_000_000
SIGV4_SKEW_SECONDS = 15 * 60  # as AWS allows
# The CSRF token of the browser session handling this request ("" for a Bearer caller), for the templates.
CSRF: contextvars.ContextVar[str] = contextvars.ContextVar("lockgate_csrf", default="")

# (method, route path) -> the role it needs. A route not listed here needs ADMIN.
RULES: dict[tuple[str, str], str] = {
    ("GET", "/api/health"): PUBLIC,
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): PUBLIC,
    ("GET", "/ui/static/{path:path}"): PUBLIC,
    ("POST", "/ui/logout"): VIEWER,
    # reading
    ("GET", "/api/runs"): VIEWER,
    ("GET", "/api/runs/{run_id}"): VIEWER,
    ("GET", "/api/runs/{run_id}/graph"): VIEWER,
    ("GET", "/api/runs/{run_id}/logs/{step}"): VIEWER,
    ("GET", "/api/runs/{run_id}/logs/{step}/text"): VIEWER,
    ("GET", "/api/pipelines"): VIEWER,
    ("GET", "/api/topics"): VIEWER,
    ("GET", "/api/notifications"): VIEWER,
    ("GET", "/api/alarms"): VIEWER,
    ("GET", "/metrics"): VIEWER,
    ("GET", "/openapi.json"): VIEWER,
    ("GET", "/"): VIEWER,
    ("GET", "/ui/runs"): VIEWER,
    ("GET", "/ui/runs/rows"): VIEWER,
    ("GET", "/ui/runs/{run_id}"): VIEWER,
    ("GET", "/ui/runs/{run_id}/live"): VIEWER,
    ("GET", "/ui/runs/{run_id}/graph.json"): VIEWER,
    ("GET", "/ui/runs/{run_id}/logs/{step}"): VIEWER,
    ("GET", "/ui/runs/{run_id}/logs/{step}/live"): VIEWER,
    ("GET", "/ui/runs/{run_id}/logs/{step}/text"): VIEWER,
    ("GET", "/ui/pipelines"): VIEWER,
    ("GET", "/ui/pipelines/{name}/trigger"): VIEWER,
    ("GET", "/api/import_errors"): VIEWER,
    ("GET", "/ui/catalog"): VIEWER,
    ("GET", "/ui/catalog/{database}/{name}"): VIEWER,
    ("GET", "/ui/notifications"): VIEWER,
    # operating runs and pipelines
    ("POST", "/api/runs/{run_id}/cancel"): OPERATOR,
    ("POST", "/api/runs/{run_id}/retry"): OPERATOR,
    ("POST", "/api/runs/{run_id}/resume"): OPERATOR,
    ("POST", "/api/runs/{run_id}/clear"): OPERATOR,
    ("POST", "/api/runs/{run_id}/mark"): OPERATOR,
    ("POST", "/api/events/s3"): OPERATOR,
    ("POST", "/api/pipelines/{name}/trigger"): OPERATOR,
    ("POST", "/api/pipelines/{name}/pause"): OPERATOR,
    ("POST", "/api/pipelines/{name}/unpause"): OPERATOR,
    ("POST", "/api/pipelines/{name}/backfill"): OPERATOR,
    ("POST", "/api/topics/{name}/publish"): OPERATOR,
    ("POST", "/api/alarms/evaluate"): OPERATOR,
    ("POST", "/ui/runs/{run_id}/{action}"): OPERATOR,
    ("POST", "/ui/runs/{run_id}/clear"): OPERATOR,
    ("POST", "/ui/runs/{run_id}/mark"): OPERATOR,
    ("POST", "/ui/pipelines/{name}/trigger"): OPERATOR,
    ("POST", "/ui/pipelines/{name}/{action}"): OPERATOR,
    # administering: topics and subscriptions (and tokens, pools, connections) are ADMIN by default
    ("POST", "/api/topics"): ADMIN,
    ("DELETE", "/api/topics/{name}"): ADMIN,
    ("POST", "/api/topics/{name}/subscriptions"): ADMIN,
    ("DELETE", "/api/topics/{name}/subscriptions/{subscription}"): ADMIN,
}

SFN_PATH = "/"
# Step Functions operations (POST / with X-Amz-Target: AWSStepFunctions.<name>) -> role.
SFN_ROLES: dict[str, str] = {
    **dict.fromkeys(
        ("DescribeStateMachine", "ListStateMachines", "DescribeExecution", "ListExecutions",
         "GetExecutionHistory", "ListMapRuns", "DescribeMapRun", "ValidateStateMachineDefinition",
         "DescribeStateMachineForExecution", "ListTagsForResource", "DescribeActivity", "ListActivities",
         "ListStateMachineVersions", "DescribeStateMachineAlias", "ListStateMachineAliases"),
        VIEWER,
    ),
    **dict.fromkeys(
        ("CreateStateMachine", "UpdateStateMachine", "DeleteStateMachine", "StartExecution",
         "StartSyncExecution", "StopExecution", "RedriveExecution", "TestState", "SendTaskSuccess",
         "SendTaskFailure", "SendTaskHeartbeat", "TagResource", "UntagResource", "CreateActivity",
         "DeleteActivity", "GetActivityTask", "PublishStateMachineVersion", "DeleteStateMachineVersion",
         "CreateStateMachineAlias", "UpdateStateMachineAlias", "DeleteStateMachineAlias", "UpdateMapRun"),
        OPERATOR,
    ),
}  # fmt: skip

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


def required_role(method: str, path: str, headers: dict[str, str], public_metrics: bool = False) -> str:
    """The role a request to route `path` needs (PUBLIC for none); ADMIN for a route not in RULES."""
    method = "GET" if method == "HEAD" else method
    if method == "POST" and path == SFN_PATH:
        target = headers.get("x-amz-target", "")
        prefix, _, name = target.partition(".")
        return SFN_ROLES.get(name, ADMIN) if prefix == "AWSStepFunctions" else ADMIN
    if public_metrics and method == "GET" and path == "/metrics":
        return PUBLIC
    return RULES.get((method, path), ADMIN)


def is_ui(method: str, path: str) -> bool:
    """Routes a browser session may call (with its cookie): the UI's own pages and actions."""
    return path.startswith("/ui/") or (path == "/" and method in ("GET", "HEAD")) or (path == "/metrics")


def routes_of(app: Any) -> list[tuple[str, set[str]]]:
    """Every route of the app as (path template, methods), routers included, in matching order."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI that includes routers lazily
    except ImportError:
        contexts: Any = app.routes
    else:
        contexts = iter_route_contexts(app.routes)
    out = []
    for route in contexts:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            out.append((path, set(getattr(route, "methods", None) or ())))
    return out


def route_table(app: Any) -> list[tuple[str, set[str], Any]]:
    from starlette.routing import compile_path

    return [(path, methods, compile_path(path)[0]) for path, methods in routes_of(app)]


# -- allowed hosts ------------------------------------------------------------------------


def allowed_hosts(settings: Any, bind: str | None) -> set[str] | None:
    """`[server] allowed_hosts` (names, no ports), else the bound address and the loopback names;
    None when any host is allowed (`"*"`)."""
    configured = settings.get("server", "allowed_hosts", None)
    if configured is not None:
        names = {str(n).lower() for n in ([configured] if isinstance(configured, str) else configured)}
    else:
        names = {"localhost", "127.0.0.1", "[::1]"}
        if bind and bind not in ("0.0.0.0", "::"):
            names.add(f"[{bind}]" if ":" in bind else bind.lower())
    return None if "*" in names else names


def host_allowed(host: str, hosts: set[str]) -> bool:
    """Whether a request's host is served: a listed name; the same with the `sync-` prefix AWS SDKs
    put before StartSyncExecution and TestState calls; and, where `localhost` is served, any name
    under `.localhost` (loopback by definition, RFC 6761: no other site's name can point there)."""
    if host.startswith("sync-") and host_allowed(host[len("sync-") :], hosts):
        return True
    return host in hosts or ("localhost" in hosts and host.endswith(".localhost"))


def host_name(header: str) -> str:
    """The host of a Host header, without its port (`[::1]:8710` -> `[::1]`)."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


# -- sessions and CSRF ----------------------------------------------------------------------


class Sessions:
    """The signed `lockgate_session` cookie: a token's id and a random nonce; the CSRF token is
    an HMAC of the nonce, so it is tied to this session and checked without storing anything."""

    def __init__(self, key: bytes) -> None:
        from itsdangerous import URLSafeTimedSerializer

        self.key = hmac.new(key, b"lockgate-session", hashlib.sha256).digest()
        self.serializer = URLSafeTimedSerializer(self.key, salt="lockgate-session")

    def issue(self, token: Token) -> str:
        import secrets

        return str(self.serializer.dumps({"t": token.token_id, "n": secrets.token_hex(16)}))

    def read(self, cookie: str) -> dict[str, str] | None:
        from itsdangerous import BadSignature

        try:
            value = self.serializer.loads(cookie, max_age=SESSION_SECONDS)
        except BadSignature:
            return None
        return value if isinstance(value, dict) and {"t", "n"} <= set(value) else None

    def csrf(self, session: dict[str, str]) -> str:
        return hmac.new(self.key, b"csrf:" + session["n"].encode(), hashlib.sha256).hexdigest()


# -- AWS Signature Version 4 ------------------------------------------------------------------


class SignatureError(Exception):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def _canonical_query(query: str) -> str:
    pairs = parse_qs(query, keep_blank_values=True)
    items = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, vs in pairs.items() for v in vs)
    return "&".join(f"{k}={v}" for k, v in items)


def sigv4_check(
    method: str, path: str, query: str, headers: dict[str, str], body: bytes,
    secret_of: Callable[[str], str | None], now: float,
) -> str:  # fmt: skip
    """Verify an `Authorization: AWS4-HMAC-SHA256 ...` request; the access key id it was signed
    with. Raises SignatureError with the service's error code and HTTP status."""
    auth = headers.get("authorization", "")
    fields: dict[str, str] = {}
    for part in auth[len("AWS4-HMAC-SHA256") :].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value
    try:
        credential, signed_names, signature = fields["Credential"], fields["SignedHeaders"], fields["Signature"]
        key_id, date, region, service, terminator = credential.split("/")
    except (KeyError, ValueError):
        raise SignatureError(
            "IncompleteSignatureException", "the Authorization header is not a SigV4 one", 400
        ) from None
    secret = secret_of(key_id)
    if secret is None:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid.", 400
        )
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        raise SignatureError("IncompleteSignatureException", "X-Amz-Date is missing or malformed", 400) from None
    if abs(now - signed_at) > SIGV4_SKEW_SECONDS or not amz_date.startswith(date) or terminator != "aws4_request":
        raise SignatureError("InvalidSignatureException", "Signature expired or its scope does not match", 403)
    names = signed_names.split(";")
    if "host" not in names:
        raise SignatureError("InvalidSignatureException", "the Host header must be signed", 403)
    canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    payload = headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()
    if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
        raise SignatureError("InvalidSignatureException", "the body does not match its signed hash", 403)
    canonical = "\n".join(
        [method, quote(path, safe="/-_.~"), _canonical_query(query), canonical_headers, signed_names, payload]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signing = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SignatureError(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
            403,
        )
    return key_id


# -- the middleware ----------------------------------------------------------------------------

Send = Callable[[dict[str, Any]], Awaitable[None]]


class AuthMiddleware:
    """See the module's docstring."""

    def __init__(self, app: Any, runtime: Any, bind: str | None = None) -> None:
        self.app = app
        self.runtime = runtime
        settings = runtime.settings
        self.tokens = TokenStore.of(runtime)
        self.sessions = Sessions(server_secret(settings))
        self.hosts = allowed_hosts(settings, bind)
        self.public_metrics = bool(settings.get("server", "public_metrics", False))
        self._table: list[tuple[str, set[str], Any]] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        send = self._with_headers(send)
        if self.hosts is not None and not host_allowed(host_name(headers.get("host", "")), self.hosts):
            await _plain(send, 400, f"Host {headers.get('host', '')!r} is not served here ([server] allowed_hosts)")
            return
        method, path = scope["method"], self._route_path(scope["app"], scope)
        role = required_role(method, path or scope["path"], headers, self.public_metrics)
        if path is None:  # no such route: 404 for a caller we know, 401 for anyone else
            role = VIEWER
        body: bytes | None = None
        token: Token | None = None
        session: dict[str, str] | None = None
        try:
            if role != PUBLIC or headers.get("authorization"):
                needed = self._lookup_key(method, path or "", headers)
                if needed is not None and not self.tokens.warm(*needed):
                    from starlette.concurrency import run_in_threadpool

                    await run_in_threadpool(self.tokens.fetch, *needed)
                if method == "POST" and path == SFN_PATH and headers.get("authorization", "").startswith("AWS4-"):
                    body = await _read_body(receive, None) or b""
                    token = self._signed(scope, headers, body)
                else:
                    token, session = self._caller(method, path or "", headers)
        except SignatureError as exc:
            await _aws(send, exc.status, exc.code, str(exc))
            return
        if token is None and role != PUBLIC:
            await self._unauthenticated(send, method, path or "", scope, headers)
            return
        if token is not None and role != PUBLIC and RANK[token.role] < RANK[role]:
            await self._forbidden(send, path or "", f"the {token.role} role may not do this; it needs {role}")
            return
        if session is not None and method not in ("GET", "HEAD", "OPTIONS"):
            body = await _read_body(receive, MAX_FORM_BYTES)
            if body is None:
                await _plain(send, 413, f"a browser form may send at most {MAX_FORM_BYTES} bytes")
                return
            if not self._csrf_ok(session, headers, body):
                await _plain(send, 403, "missing or wrong CSRF token; reload the page and try again")
                return
        state = scope.setdefault("state", {})
        state["token"] = token
        state["csrf_token"] = self.sessions.csrf(session) if session is not None else ""
        reset = history.ACTOR.set(token.name if token is not None else None)
        reset_csrf = CSRF.set(state["csrf_token"])
        try:
            await self.app(scope, _replay(body, receive) if body is not None else receive, send)
        finally:
            CSRF.reset(reset_csrf)
            history.ACTOR.reset(reset)

    def _route_path(self, app: Any, scope: dict[str, Any]) -> str | None:
        if self._table is None:
            self._table = route_table(app)
        path, method = scope["path"], scope["method"]
        partial = None
        for template, methods, pattern in self._table:
            if pattern.match(path):
                if not methods or method in methods:
                    return template
                partial = partial or template
        return partial

    def _lookup_key(self, method: str, path: str, headers: dict[str, str]) -> tuple[str, str] | None:
        """The token row a request's credentials name: ("token_id" | "aws_access_key_id", value)."""
        auth = headers.get("authorization", "")
        if auth.startswith("AWS4-") and "Credential=" in auth:
            return "aws_access_key_id", auth.split("Credential=", 1)[1].split("/", 1)[0]
        if auth:
            value = auth.partition(" ")[2].strip()
            token_id = value[len(PREFIX) :].partition("_")[0] if value.startswith(PREFIX) else ""
            return ("token_id", token_id) if len(token_id) == 16 else None
        cookie = _cookies(headers.get("cookie", "")).get(COOKIE) if is_ui(method, path) else None
        session = self.sessions.read(cookie) if cookie else None
        return ("token_id", session["t"]) if session else None

    def _caller(self, method: str, path: str, headers: dict[str, str]) -> tuple[Token | None, dict[str, str] | None]:
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, value = auth.partition(" ")
            return (self.tokens.check(value.strip()) if scheme.lower() == "bearer" else None), None
        if not is_ui(method, path):
            return None, None  # /api and the Step Functions endpoint take no cookie
        cookie = _cookies(headers.get("cookie", "")).get(COOKIE)
        session = self.sessions.read(cookie) if cookie else None
        token = self.tokens.by_id(session["t"]) if session else None
        return (token, session) if token is not None else (None, None)

    def _signed(self, scope: dict[str, Any], headers: dict[str, str], body: bytes) -> Token:
        found: dict[str, Token] = {}

        def secret_of(key_id: str) -> str | None:
            hit = self.tokens.by_access_key(key_id)
            if hit is None:
                return None
            found["token"] = hit[0]
            return hit[1]

        query = scope.get("query_string", b"").decode("latin-1")
        sigv4_check(scope["method"], scope["path"], query, headers, body, secret_of, self.runtime.clock())
        return found["token"]

    def _csrf_ok(self, session: dict[str, str], headers: dict[str, str], body: bytes) -> bool:
        expected = self.sessions.csrf(session)
        given = headers.get(CSRF_HEADER, "")
        if not given and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            given = (parse_qs(body.decode("utf-8", "replace")).get(CSRF_FIELD) or [""])[0]
        return bool(given) and hmac.compare_digest(given, expected)

    async def _unauthenticated(
        self, send: Send, method: str, path: str, scope: dict[str, Any], headers: dict[str, str]
    ) -> None:
        if path == SFN_PATH and method == "POST":
            code = (
                "UnrecognizedClientException" if headers.get("authorization") else "MissingAuthenticationTokenException"
            )
            message = "The security token included in the request is invalid." if headers.get("authorization") else (
                "Missing Authentication Token")  # fmt: skip
            await _aws(send, 400 if headers.get("authorization") else 403, code, message)
            return
        if is_ui(method, path) and method == "GET" and "text/html" in headers.get("accept", ""):
            where = scope["path"] + ("?" + scope["query_string"].decode("latin-1") if scope.get("query_string") else "")
            target = "/ui/login?next=" + quote(where, safe="")
            kind = b"hx-redirect" if headers.get("hx-request") else b"location"
            await send({"type": "http.response.start", "status": 401 if kind == b"hx-redirect" else 303,
                        "headers": [(kind, target.encode()), (b"content-length", b"0")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b""})
            return
        await _json(send, 401, {"detail": "a valid API token is needed: Authorization: Bearer <token>"},
                    [(b"www-authenticate", b'Bearer realm="lockgate"')])  # fmt: skip

    async def _forbidden(self, send: Send, path: str, message: str) -> None:
        if path == SFN_PATH:
            await _aws(send, 400, "AccessDeniedException", message)
        else:
            await _json(send, 403, {"detail": message})

    def _with_headers(self, send: Send) -> Send:
        async def wrapped(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)

        return wrapped


def _cookies(header: str) -> dict[str, str]:
    out = {}
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


async def _read_body(receive: Any, limit: int | None) -> bytes | None:
    """The whole request body; None when it is longer than `limit`."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    sent = False

    async def again() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return again


async def _respond(send: Send, status: int, body: bytes, kind: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _plain(send: Send, status: int, text: str) -> None:
    await _respond(send, status, text.encode() + b"\n", b"text/plain; charset=utf-8", [])


async def _json(send: Send, status: int, value: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await _respond(send, status, json.dumps(value).encode(), b"application/json", extra or [])


async def _aws(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"__type": code, "message": message}).encode()
    await _respond(send, status, body, b"application/x-amz-json-1.0", [])
