"""Alarm rules and their evaluation: a pure function of (rule, observations, now).

Kinds, as `[[alarms]]` in lockgate.toml declares them:

    failures   a pipeline (or any, without `pipeline`) failed or timed out `count` times in `window`
    duration   a run of `pipeline` (or any) has run longer than `max_duration`, or one that
               ended within `window` (default 15m) took longer (an SLA miss)
    freshness  no successful run of `pipeline` ended within `window`
    backlog    more than `max_queued` runs wait in the queue

An alarm is OK, ALARM or INSUFFICIENT_DATA (the pipeline has never run). It fires once on
entering ALARM and once on returning to OK from ALARM, never while it stays put.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockgate.core.errors import UsageError

KINDS = ("failures", "duration", "freshness", "backlog")
STATES = ("OK", "ALARM", "INSUFFICIENT_DATA")
FAILED = frozenset({"FAILED", "TIMED_OUT"})
DEFAULT_DURATION_WINDOW = 900.0
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any, where: str) -> float:
    """Seconds from `90`, `"90s"`, `"10m"`, `"2h"` or `"1d"`; UsageError names `where`."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise UsageError(f"{where}: {value!r} is not a duration (seconds, or a number with ms, s, m, h or d)")
    return float(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """One alarm; `limit` is the count, the seconds or the queue size the kind compares with."""

    name: str
    kind: str
    topic: str | None
    pipeline: str | None = None
    limit: float = 0.0
    window: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"alarm {self.name}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "freshness" and not self.pipeline:
            raise UsageError(f"alarm {self.name}: a freshness alarm needs a pipeline")
        if self.kind in ("failures", "freshness") and self.window <= 0:
            raise UsageError(f"alarm {self.name}: window must be above 0")
        if self.kind == "failures" and self.limit < 1:
            raise UsageError(f"alarm {self.name}: count must be at least 1")

    def describe(self) -> str:
        subject = f"pipeline {self.pipeline}" if self.pipeline else "any pipeline"
        if self.kind == "failures":
            return f"{subject} failed {int(self.limit)} times within {self.window:g} s"
        if self.kind == "duration":
            return f"a run of {subject} longer than {self.limit:g} s"
        if self.kind == "freshness":
            return f"no successful run of {subject} within {self.window:g} s"
        return f"more than {int(self.limit)} queued runs"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "topic": self.topic,
            "pipeline": self.pipeline,
            "limit": self.limit,
            "window_seconds": self.window,
            "description": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class RunSample:
    """A run as alarms see it; `ended_at` None while it runs."""

    pipeline: str
    status: str
    started_at: float | None
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class Observations:
    """What the store showed at one moment: recent runs (running, or ended lately), the last
    success of each pipeline, the pipelines that have ever run, whether any run exists, the queue size."""

    runs: tuple[RunSample, ...] = ()
    last_success: Mapping[str, float] = field(default_factory=dict)
    pipelines: frozenset[str] = frozenset()
    any_run: bool = False
    queued: int = 0


@dataclass(frozen=True, slots=True)
class Verdict:
    state: str
    reason: str


@dataclass(frozen=True, slots=True)
class AlarmState:
    """Where an alarm stands, since when (epoch seconds) and why."""

    name: str
    state: str
    since: float
    reason: str


def evaluate(rule: AlarmRule, obs: Observations, now: float) -> Verdict:
    """The state the observations put the alarm in, at `now`."""
    if rule.kind == "backlog":
        if obs.queued > rule.limit:
            return Verdict("ALARM", f"{obs.queued} runs queued (more than {int(rule.limit)})")
        return Verdict("OK", f"{obs.queued} runs queued")
    seen = obs.any_run if rule.pipeline is None else rule.pipeline in obs.pipelines
    if not seen:
        return Verdict("INSUFFICIENT_DATA", f"no run of {rule.pipeline or 'any pipeline'} yet")
    runs = [r for r in obs.runs if rule.pipeline is None or r.pipeline == rule.pipeline]
    if rule.kind == "failures":
        since = now - rule.window
        failed = sum(1 for r in runs if r.status in FAILED and r.ended_at is not None and r.ended_at >= since)
        state = "ALARM" if failed >= rule.limit else "OK"
        return Verdict(state, f"{failed} failed runs in the last {rule.window:g} s (alarm at {int(rule.limit)})")
    if rule.kind == "duration":
        window = rule.window or DEFAULT_DURATION_WINDOW
        longest = 0.0
        for r in runs:
            if r.started_at is None:
                continue
            if r.ended_at is None and r.status == "RUNNING":
                longest = max(longest, now - r.started_at)
            elif r.ended_at is not None and r.ended_at >= now - window:
                longest = max(longest, r.ended_at - r.started_at)
        state = "ALARM" if longest > rule.limit else "OK"
        return Verdict(state, f"longest run {longest:.1f} s (limit {rule.limit:g} s)")
    last = obs.last_success.get(rule.pipeline or "")
    if last is None:
        return Verdict("ALARM", f"pipeline {rule.pipeline} has never succeeded")
    age = now - last
    state = "ALARM" if age > rule.window else "OK"
    return Verdict(state, f"last success {age:.0f} s ago (window {rule.window:g} s)")


def transition(
    previous: AlarmState | None, rule: AlarmRule, verdict: Verdict, now: float
) -> tuple[AlarmState, str | None]:
    """The alarm's next state, and what fires: "ALARM" on entering it, "OK" on leaving it, else None."""
    if previous is not None and previous.state == verdict.state:
        return AlarmState(rule.name, previous.state, previous.since, verdict.reason), None
    fired = None
    if verdict.state == "ALARM":
        fired = "ALARM"
    elif verdict.state == "OK" and previous is not None and previous.state == "ALARM":
        fired = "OK"
    return AlarmState(rule.name, verdict.state, now, verdict.reason), fired


def rules_from_settings(settings: Any) -> list[AlarmRule]:
    """The `[[alarms]]` of the settings; UsageError names the file and the alarm at fault."""
    where_file = str(settings.source or "settings")
    declared = settings.data.get("alarms", [])
    if not isinstance(declared, list):
        raise UsageError(f"{where_file}: alarms must be an array of tables ([[alarms]])")
    rules, names = [], set()
    for index, body in enumerate(declared):
        where = f"{where_file}: alarms[{index}]"
        if not isinstance(body, dict):
            raise UsageError(f"{where} must be a table")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise UsageError(f"{where} needs a name")
        where = f"{where_file}: alarm {name!r}"
        if name in names:
            raise UsageError(f"{where} is declared twice")
        names.add(name)
        kind = body.get("kind")
        if kind not in KINDS:
            raise UsageError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        limit_key = _LIMIT_KEY[kind]
        allowed = {"name", "kind", "topic", "pipeline", "window", *([limit_key] if limit_key else [])}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise UsageError(
                f"{where}: unknown keys {', '.join(unknown)} for a {kind} alarm (allowed: {', '.join(sorted(allowed))})"
            )
        limit = 0.0
        if limit_key is not None:
            if limit_key not in body:
                raise UsageError(f"{where}: a {kind} alarm needs `{limit_key}`")
            raw_limit = body[limit_key]
            if limit_key == "max_duration":
                limit = parse_duration(raw_limit, f"{where}: max_duration")
            elif isinstance(raw_limit, int) and not isinstance(raw_limit, bool) and raw_limit >= 0:
                limit = float(raw_limit)
            else:
                raise UsageError(f"{where}: {limit_key} must be a whole number, not {raw_limit!r}")
        window = parse_duration(body["window"], f"{where}: window") if "window" in body else 0.0
        topic, pipeline = body.get("topic"), body.get("pipeline")
        for key, value in (("topic", topic), ("pipeline", pipeline)):
            if value is not None and not isinstance(value, str):
                raise UsageError(f"{where}: {key} must be a string")
        try:
            rules.append(AlarmRule(name, str(kind), topic, pipeline, limit, window))
        except UsageError as exc:
            raise UsageError(f"{where_file}: {exc}") from None
    return rules


_LIMIT_KEY: dict[str, str | None] = {
    "failures": "count",
    "duration": "max_duration",
    "freshness": None,
    "backlog": "max_queued",
}
