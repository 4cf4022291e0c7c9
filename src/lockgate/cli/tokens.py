"""`lockgate tokens`: the API tokens that may call `lockgate serve`, and their roles."""

from __future__ import annotations

from typing import Any

import typer

from lockgate.cli import _output, app
from lockgate.cli._output import emit_json

JSON = typer.Option(False, "--json", help="Print JSON instead of text.")

tokens_app = typer.Typer(help="API tokens of the HTTP server: create, list, revoke.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


def _store() -> Any:
    from lockgate.runtime import default_runtime
    from lockgate.server.tokens import TokenStore

    return TokenStore.of(default_runtime())


@tokens_app.command("create")
def create(
    name: str = typer.Argument(..., help="The token's name; the history names it as who did each action."),
    role: str = typer.Option(..., "--role", help="viewer, operator or admin."),
    expires: str = typer.Option(None, "--expires", help="Lifetime, such as 30d, 12h or 2w (default: none)."),
    aws_key: bool = typer.Option(False, "--aws-key", help="Also make an AWS access key pair for SigV4 clients."),
    as_json: bool = JSON,
) -> None:
    """Make a token and print it once: the store keeps only a salted hash of it."""
    from lockgate.server.tokens import parse_duration

    store = _store()
    created = store.create(name, role, parse_duration(expires) if expires else None, aws_key)
    if as_json:
        emit_json(created.to_json(store.clock()))
        return
    typer.echo(created.secret)
    err = _output.error_console()
    err.print(f"token {name} ({role}) created; it is shown this once: keep it somewhere safe")
    if created.aws_secret_access_key is not None:
        typer.echo(f"aws_access_key_id = {created.token.aws_access_key_id}")
        typer.echo(f"aws_secret_access_key = {created.aws_secret_access_key}")


@tokens_app.command("list")
def list_tokens(as_json: bool = JSON) -> None:
    """The tokens: name, role, status, dates and AWS key id (never a secret)."""
    store = _store()
    now = store.clock()
    rows = [t.to_json(now) for t in store.list()]
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table()
    for column in ("name", "role", "status", "prefix", "created_at", "expires_at", "aws_access_key_id"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], row["role"], row["status"], row["prefix"], row["created_at"],
                      row["expires_at"] or "-", row["aws_access_key_id"] or "-")  # fmt: skip
    _output.console().print(table)


@tokens_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The token to revoke."), as_json: bool = JSON) -> None:
    """Revoke a token at once (a running server stops accepting it within a few seconds)."""
    store = _store()
    token = store.revoke(name)
    if as_json:
        emit_json(token.to_json(store.clock()))
    else:
        typer.echo(f"token {name} revoked")
