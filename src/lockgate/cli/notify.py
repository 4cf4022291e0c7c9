"""Commands about notifications: topics, the delivery log, alarms."""

from __future__ import annotations

from typing import Any

import typer

from lockgate import _json
from lockgate.cli import _output, app
from lockgate.cli._output import emit_json
from lockgate.core.errors import UsageError

JSON = typer.Option(False, "--json", help="Print one JSON document instead of tables.")

topics_app = typer.Typer(help="Topics and their subscriptions (email, webhook, slack).", no_args_is_help=True)
notifications_app = typer.Typer(help="The delivery log of notifications.", invoke_without_command=True)
# Help text is rich markup: a bracket is escaped, or "[[alarms]]" reads as a style tag and vanishes.
alarms_app = typer.Typer(
    help="Alarms declared in lockgate.toml (\\[\\[alarms]]) and their states.", no_args_is_help=True
)
app.add_typer(topics_app, name="topics")
app.add_typer(notifications_app, name="notifications")
app.add_typer(alarms_app, name="alarms")

_STYLE = {"DELIVERED": "green", "FAILED": "red", "RETRYING": "yellow", "PENDING": "dim", "ALARM": "red", "OK": "green"}


def _runtime() -> Any:
    from lockgate.runtime import default_runtime

    return default_runtime()


def _notifier() -> Any:
    from lockgate.notify.plugin import notifier_of

    return notifier_of(_runtime())


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    _output.console().print(table)


# -- topics -----------------------------------------------------------------------------------


@topics_app.command("create")
def create_topic(name: str = typer.Argument(..., help="The topic's name.")) -> None:
    """Create a topic (nothing happens if it exists)."""
    created = _notifier().topics.create(name, _runtime().clock())
    typer.echo(f"topic {name} {'created' if created else 'already exists'}")


@topics_app.command("delete")
def delete_topic(name: str = typer.Argument(...)) -> None:
    """Delete a topic and its subscriptions."""
    _notifier().topics.delete(name)
    typer.echo(f"topic {name} deleted")


@topics_app.command("list")
def list_topics(as_json: bool = JSON) -> None:
    """Topics and their subscriptions, from the store and from lockgate.toml."""
    from lockgate.config import NoHome, load
    from lockgate.notify.topics import config_topics

    try:
        _output.require_home()
    except NoHome:  # without a home only lockgate.toml's topics exist; with none, say there is no home
        declared = config_topics(load())
        if not declared:
            raise
        found = [declared[name] for name in sorted(declared)]
    else:
        found = _notifier().topics.all()
    if as_json:
        emit_json([t.to_json() for t in found])
        return
    rows = []
    for topic in found:
        if not topic.subscriptions:
            rows.append([topic.name, topic.source, "", "", ""])
        for sub in topic.subscriptions:
            shown = sub.to_json()
            rows.append([topic.name, sub.source, sub.id, shown["target"], "yes" if shown["signed"] else ""])
    _table("topics", ["topic", "source", "subscription", "target", "signed"], rows)


@topics_app.command("subscribe")
def subscribe(
    name: str = typer.Argument(..., help="The topic."),
    target: str = typer.Argument(..., help="email:ADDRESS, webhook:URL or slack:URL"),
    secret: str | None = typer.Option(
        None, "--secret", help="A webhook's signing secret (default: a new one, printed once)."
    ),
    as_json: bool = JSON,
) -> None:
    """Subscribe an email address, a webhook or a Slack incoming webhook to a topic."""
    sub = _notifier().topics.subscribe(name, target, secret, _runtime().clock())
    generated = sub.channel == "webhook" and secret is None
    if as_json:
        emit_json({**sub.to_json(), **({"secret": sub.secret} if generated else {})})
        return
    typer.echo(f"subscribed {sub.to_json()['target']} to {name} (subscription {sub.id})")
    if generated:
        typer.echo(f"webhook secret (shown once; requests carry X-Lockgate-Signature: sha256=HMAC): {sub.secret}")


@topics_app.command("unsubscribe")
def unsubscribe(
    name: str = typer.Argument(..., help="The topic."),
    target: str = typer.Argument(..., help="The subscription's id, or its email:/webhook:/slack: target."),
) -> None:
    """Remove a subscription from a topic."""
    sub = _notifier().topics.unsubscribe(name, target)
    typer.echo(f"unsubscribed {sub.to_json()['target']} from {name}")


@topics_app.command("publish")
def publish(
    name: str = typer.Argument(..., help="The topic."),
    subject: str = typer.Option(..., "--subject", "-s", help="The subject line."),
    message: str = typer.Option(..., "--message", "-m", help="The message text."),
    as_json: bool = JSON,
) -> None:
    """Send a message to every subscription of a topic now; exit 1 if a delivery failed."""
    from lockgate.notify.channels import Message

    notifier = _notifier()
    ids = notifier.publish(name, Message(subject, message, {"kind": "published", "topic": name}))
    notifier.close()  # send now, within [notify] flush_seconds
    found = {d.id: d for d in notifier.outbox.list(limit=max(len(ids), 1) * 2 + 100, topic=name)}
    shown = [found[i] for i in ids if i in found]
    if as_json:
        emit_json([d.to_json() for d in shown])
    else:
        for d in shown:
            error = f": {d.last_error}" if d.last_error else ""
            typer.echo(f"{d.id}  {d.to_json()['target']}  {d.status}{error}")
        if not ids:
            typer.echo(f"topic {name} has no subscriptions; nothing sent")
    if any(d.status != "DELIVERED" for d in shown):
        raise _output.Exit(_output.EXIT_FAILED)


# -- notifications ----------------------------------------------------------------------------


@notifications_app.callback()
def notifications(
    ctx: typer.Context,
    as_json: bool = JSON,
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    status: str | None = typer.Option(None, "--status", help="PENDING, RETRYING, DELIVERED or FAILED."),
    run: str | None = typer.Option(None, "--run", help="Only the notifications of this run."),
    topic: str | None = typer.Option(None, "--topic", help="Only this topic's."),
) -> None:
    """The delivery log, newest first: what was sent where, attempts, errors."""
    if ctx.invoked_subcommand is not None:
        return
    from lockgate.notify.outbox import DELIVERY_STATUSES

    if status is not None and status not in DELIVERY_STATUSES:
        raise UsageError(f"--status {status!r} is not one of {', '.join(DELIVERY_STATUSES)}")
    _output.require_home()
    found = _notifier().outbox.list(limit=limit, status=status, run_id=run, topic=topic)
    if as_json:
        emit_json([d.to_json() for d in found])
        return
    rows = []
    for d in found:
        shown = d.to_json()
        style = _STYLE.get(d.status, "")
        rows.append(
            [
                shown["created_at"][:19],
                d.topic,
                shown["target"],
                f"[{style}]{d.status}[/]",
                str(d.attempts),
                d.run_id or "",
                (d.last_error or "")[:80],
            ]
        )
    _table("notifications", ["created", "topic", "target", "status", "attempts", "run", "last error"], rows)


@notifications_app.command("deliver")
def deliver(as_json: bool = JSON) -> None:
    """Send every due delivery once now (what `lockgate serve` does periodically)."""
    from lockgate.notify.delivery import deliver_due

    done = deliver_due(_runtime())
    if as_json:
        emit_json([{**d.to_json(), "status": status} for d, status in done])
        return
    for d, status in done:
        typer.echo(f"{d.id}  {d.to_json()['target']}  {status}")
    typer.echo(f"{len(done)} deliveries attempted")


# -- alarms -----------------------------------------------------------------------------------


def _alarm_rows(results: list[tuple[Any, Any, str | None]] | None = None) -> list[dict[str, Any]]:
    from lockgate.config import NoHome, load
    from lockgate.notify.alarms import rules_from_settings
    from lockgate.notify.monitor import states

    try:
        _output.require_home()
    except NoHome:  # alarms are declared in lockgate.toml: list them unevaluated, creating nothing
        rules = rules_from_settings(load())
        if not rules:
            raise
        known = {}
    else:
        runtime = _runtime()
        rules = rules_from_settings(runtime.settings)
        known = states(runtime.store.engine)
    fired = {rule.name: what for rule, _, what in results or []}
    out = []
    for rule in rules:
        state = known.get(rule.name)
        row = {
            **rule.to_json(),
            "state": state.state if state else "INSUFFICIENT_DATA",
            "since": _json.iso(state.since) if state else None,
            "reason": state.reason if state else "not evaluated yet",
        }
        if results is not None:
            row["fired"] = fired.get(rule.name)
        out.append(row)
    return out


def _print_alarms(rows: list[dict[str, Any]]) -> None:
    table_rows = []
    for row in rows:
        style = _STYLE.get(row["state"], "dim")
        table_rows.append(
            [
                row["name"],
                row["kind"],
                f"[{style}]{row['state']}[/]",
                (row["since"] or "")[:19],
                row["topic"] or "",
                row["reason"],
            ]
        )
    _table("alarms", ["alarm", "kind", "state", "since", "topic", "reason"], table_rows)


@alarms_app.command("list")
def list_alarms(as_json: bool = JSON) -> None:
    """The alarms of lockgate.toml with their state (OK, ALARM, INSUFFICIENT_DATA) and since when."""
    rows = _alarm_rows()
    if as_json:
        emit_json(rows)
    else:
        _print_alarms(rows)


@alarms_app.command("evaluate")
def evaluate(as_json: bool = JSON) -> None:
    """Evaluate every alarm once now; an alarm that changes notifies its topic."""
    from lockgate.notify.monitor import evaluate_alarms

    runtime = _runtime()
    results = evaluate_alarms(runtime)
    rows = _alarm_rows(results)
    if as_json:
        emit_json(rows)
    else:
        _print_alarms(rows)
