"""`lockgate tokens create | list | revoke`: the token shown once, never again; clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def lockgate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lockgate", *args], capture_output=True, text=True, timeout=60)


def test_create_list_revoke_and_their_errors(home: Path) -> None:
    made = lockgate("tokens", "create", "alice", "--role", "viewer", "--expires", "30d")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("lgt_") and "shown this once" in made.stderr
    made_json = json.loads(lockgate("tokens", "create", "bob", "--role", "admin", "--aws-key", "--json").stdout)
    assert made_json["aws_access_key_id"].startswith("AKLG") and len(made_json["aws_secret_access_key"]) == 40
    listed = lockgate("tokens", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["status"]) for r in rows] == [
        ("alice", "viewer", "active"),
        ("bob", "admin", "active"),
    ]
    assert rows[0]["expires_at"] is not None and rows[0]["prefix"] == secret[:20]
    table = lockgate("tokens", "list").stdout
    for shown in (listed.stdout, table):
        assert secret[21:] not in shown and made_json["token"][21:] not in shown
        assert made_json["aws_secret_access_key"] not in shown
    assert lockgate("tokens", "revoke", "alice").returncode == 0
    assert json.loads(lockgate("tokens", "list", "--json").stdout)[0]["status"] == "revoked"
    database = b"".join(f.read_bytes() for f in home.glob("lockgate.db*"))  # with the WAL file
    assert secret[21:].encode() not in database  # only a salted hash is stored

    for args, message in [
        (("create", "alice", "--role", "viewer"), "a token named 'alice' exists already"),
        (("create", "carol", "--role", "root"), "--role 'root' is not one of viewer, operator, admin"),
        (("create", "carol", "--role", "viewer", "--expires", "soon"), "--expires 'soon': expected a duration"),
        (("create", "bad name", "--role", "viewer"), "token name 'bad name'"),
        (("revoke", "nobody"), "no token named 'nobody'"),
    ]:
        failed = lockgate("tokens", *args)
        assert failed.returncode == 2 and message in failed.stderr and "Traceback" not in failed.stderr, args


def test_a_cancel_from_the_cli_names_cli_and_the_os_user_in_the_history(home: Path) -> None:
    import getpass

    Path("flows.py").write_text("from lockgate import pipeline, task\n\n@task\ndef a():\n    return 1\n\n"
                                "@pipeline\ndef later():\n    return a()\n")  # fmt: skip
    run_id = lockgate("trigger", "later", "--pipelines", ".").stdout.strip()
    assert lockgate("cancel", run_id, "--json").returncode == 0
    (event,) = json.loads(lockgate("show", run_id, "--json").stdout)["history"]
    assert (event["type"], event["by"]) == ("RunAborted", f"cli:{getpass.getuser()}")
