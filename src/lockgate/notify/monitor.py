"""Evaluating the alarms of lockgate.toml against the store, and publishing their changes."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from lockgate import _json
from lockgate.notify.alarms import (
    DEFAULT_DURATION_WINDOW,
    AlarmRule,
    AlarmState,
    Observations,
    RunSample,
    evaluate,
    rules_from_settings,
    transition,
)
from lockgate.notify.channels import Message
from lockgate.notify.schema import alarms as alarm_table
from lockgate.store.schema import runs

log = logging.getLogger(__name__)


def observe(engine: sa.Engine, rules: list[AlarmRule], now: float, queued: int) -> Observations:
    """Read what the rules need from the runs table."""
    lookback = max([r.window for r in rules] + [DEFAULT_DURATION_WINDOW])
    named = sorted({r.pipeline for r in rules if r.pipeline})
    any_pipeline = any(r.pipeline is None and r.kind != "backlog" for r in rules)
    with engine.begin() as conn:
        recent = conn.execute(
            sa.select(runs.c.pipeline, runs.c.status, runs.c.started_at, runs.c.ended_at).where(
                sa.or_(runs.c.status == "RUNNING", runs.c.ended_at >= now - lookback)
            )
        ).all()
        last = conn.execute(
            sa.select(runs.c.pipeline, sa.func.max(runs.c.ended_at))
            .where(runs.c.status == "SUCCEEDED", runs.c.pipeline.in_(named))
            .group_by(runs.c.pipeline)
        ).all()
        seen = {
            row.pipeline
            for row in conn.execute(sa.select(runs.c.pipeline).where(runs.c.pipeline.in_(named)).distinct())
        }
        any_run = any_pipeline and conn.execute(sa.select(runs.c.run_id).limit(1)).first() is not None
    return Observations(
        runs=tuple(RunSample(r.pipeline, r.status, r.started_at, r.ended_at) for r in recent),
        last_success={p: at for p, at in last if at is not None},
        pipelines=frozenset(seen),
        any_run=bool(any_run),
        queued=queued,
    )


def states(engine: sa.Engine) -> dict[str, AlarmState]:
    with engine.begin() as conn:
        rows = conn.execute(sa.select(alarm_table)).all()
    return {row.name: AlarmState(row.name, row.state, row.since, row.reason) for row in rows}


def alarm_message(rule: AlarmRule, state: AlarmState, fired: str) -> Message:
    word = "ALARM" if fired == "ALARM" else "OK"
    text = (
        f"Alarm {rule.name} is {word}.\n\n"
        f"Alarm:  {rule.name} ({rule.kind})\nRule:   {rule.describe()}\n"
        f"State:  {state.state} since {_json.iso(state.since)}\n"
        f"Reason: {state.reason}\n\nSee all alarms: lockgate alarms list\n"
    )
    data = {
        "kind": "alarm",
        "alarm": rule.name,
        "state": state.state,
        "since": _json.iso(state.since),
        "reason": state.reason,
        "rule": rule.to_json(),
    }
    return Message(f"[lockgate] {word}: {rule.name} ({rule.describe()})", text, data)


def evaluate_alarms(runtime: Any, now: float | None = None) -> list[tuple[AlarmRule, AlarmState, str | None]]:
    """One evaluation pass over the alarms of the settings: store each state, publish each change.

    `lockgate serve` calls it periodically; `lockgate alarms evaluate` runs one pass. Returns
    (rule, state, what fired) per alarm. Publishing queues the deliveries in the outbox.
    """
    from lockgate.notify.plugin import notifier_of

    rules = rules_from_settings(runtime.settings)
    now = runtime.clock() if now is None else now
    if not rules:
        return []
    engine = runtime.store.engine
    obs = observe(engine, rules, now, runtime.store.count_runs("QUEUED"))
    previous = states(engine)
    notifier = notifier_of(runtime)
    results = []
    for rule in rules:
        verdict = evaluate(rule, obs, now)
        state, fired = transition(previous.get(rule.name), rule, verdict, now)
        if fired is not None:  # published before the state is stored: a crash repeats it, never loses it
            log.warning("alarm %s: %s (%s)", rule.name, fired, state.reason)
            if rule.topic:
                try:
                    notifier.publish(rule.topic, alarm_message(rule, state, fired))
                except ValueError as exc:  # the topic does not exist: say so, keep evaluating
                    log.error("alarm %s cannot notify: %s", rule.name, exc)
        with engine.begin() as conn:
            values = {"state": state.state, "since": state.since, "reason": state.reason, "evaluated_at": now}
            if rule.name in previous:
                conn.execute(sa.update(alarm_table).where(alarm_table.c.name == rule.name).values(**values))
            else:
                conn.execute(alarm_table.insert(), {"name": rule.name, **values})
        results.append((rule, state, fired))
    return results
