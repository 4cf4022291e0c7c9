"""The one way the Step Functions API tests start a server and make clients of it.

`running(runtime)` serves lockgate's app on a free loopback port (uvicorn, in a thread) and
gives a `Served` with `client()` (boto3 `stepfunctions`, default settings: retries and the like
as a user has them) and `aws(...)` (the AWS CLI), both signing with the AWS key pair of an admin
token made in the runtime's store for this server.
Clients disable the `sync-` host prefix the way `lockgate serve` tells users to, through
AWS_DISABLE_HOST_PREFIX_INJECTION, since no loopback name resolves with that prefix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
}


@dataclass
class Served:
    endpoint: str
    credentials: dict[str, str]
    token: str = ""  # the same admin token, as a Bearer value for plain HTTP calls

    def client(self, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        os.environ.update(self.credentials)
        return boto3.session.Session().client(
            "stepfunctions", endpoint_url=self.endpoint, config=Config(**config) if config else None
        )

    def aws(self, *args: str) -> Any:
        """`aws stepfunctions ARGS --endpoint-url ...`: its JSON answer (the command must succeed)."""
        env = {
            **os.environ,
            **self.credentials,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        aws = Path(sys.executable).with_name("aws")
        command = [str(aws), "stepfunctions", *args, "--endpoint-url", self.endpoint, "--output", "json"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None


@contextmanager
def running(runtime: Any) -> Iterator[Served]:
    import uuid

    import uvicorn

    from lockgate.server.app import create_app
    from lockgate.server.tokens import TokenStore

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    created = TokenStore.of(runtime).create(f"sfn-{uuid.uuid4().hex[:8]}", "admin", aws_key=True)
    credentials = {
        **CREDENTIALS,
        "AWS_ACCESS_KEY_ID": str(created.token.aws_access_key_id),
        "AWS_SECRET_ACCESS_KEY": str(created.aws_secret_access_key),
    }
    saved = {key: os.environ.get(key) for key in CREDENTIALS}
    try:
        yield Served(f"http://127.0.0.1:{port}", credentials, str(created.secret))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
