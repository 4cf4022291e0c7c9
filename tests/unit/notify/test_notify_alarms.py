"""Alarm evaluation as a pure function of (rule, observations, now), on a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.config import load
from lockgate.core.errors import UsageError
from lockgate.notify.alarms import (
    AlarmRule,
    AlarmState,
    Observations,
    RunSample,
    Verdict,
    evaluate,
    parse_duration,
    rules_from_settings,
    transition,
)

T0 = 1_800_000_000.0


def failed(at: float, pipeline: str = "etl") -> RunSample:
    return RunSample(pipeline, "FAILED", at - 10, at)


def test_failures_alarm_counts_only_failures_inside_the_window() -> None:
    rule = AlarmRule("etl-failing", "failures", "ops", "etl", limit=3, window=600)
    runs = (failed(T0 - 700), failed(T0 - 500), failed(T0 - 100), RunSample("etl", "SUCCEEDED", T0 - 60, T0 - 50))
    obs = Observations(runs=runs, pipelines=frozenset({"etl"}))
    assert evaluate(rule, obs, T0).state == "OK"
    more = Observations(
        runs=(*runs, failed(T0 - 5), RunSample("etl", "TIMED_OUT", T0 - 9, T0 - 3)), pipelines=frozenset({"etl"})
    )
    verdict = evaluate(rule, more, T0)
    assert verdict.state == "ALARM"
    assert verdict.reason.startswith("4 failed runs")
    # later the earlier failures have left the window: two remain
    later = evaluate(rule, more, T0 + 550)
    assert later.state == "OK" and later.reason.startswith("2 failed runs")


def test_failures_of_other_pipelines_do_not_count_unless_the_rule_names_none() -> None:
    obs = Observations(
        runs=(failed(T0, "other"), failed(T0, "other")), pipelines=frozenset({"etl", "other"}), any_run=True
    )
    assert evaluate(AlarmRule("a", "failures", None, "etl", 2, 60), obs, T0).state == "OK"
    assert evaluate(AlarmRule("a", "failures", None, None, 2, 60), obs, T0).state == "ALARM"


def test_a_pipeline_that_never_ran_has_insufficient_data() -> None:
    for rule in (
        AlarmRule("f", "failures", None, "etl", 1, 60),
        AlarmRule("d", "duration", None, "etl", 60),
        AlarmRule("n", "freshness", None, "etl", 0, 3600),
    ):
        assert evaluate(rule, Observations(), T0).state == "INSUFFICIENT_DATA"


def test_duration_alarm_sees_running_and_recently_ended_long_runs() -> None:
    rule = AlarmRule("sla", "duration", "ops", "etl", limit=3600)
    running = RunSample("etl", "RUNNING", T0 - 1800, None)
    obs = Observations(runs=(running,), pipelines=frozenset({"etl"}))
    assert evaluate(rule, obs, T0).state == "OK"
    assert evaluate(rule, obs, T0 + 1801).state == "ALARM"
    ended_long = RunSample("etl", "SUCCEEDED", T0 - 5000, T0 - 100)
    assert evaluate(rule, Observations(runs=(ended_long,), pipelines=frozenset({"etl"})), T0).state == "ALARM"
    # an ended run counts only while it ended within the window (default 15 minutes)
    assert evaluate(rule, Observations(runs=(ended_long,), pipelines=frozenset({"etl"})), T0 + 900).state == "OK"


def test_freshness_alarm_wants_a_success_within_the_window() -> None:
    rule = AlarmRule("fresh", "freshness", "ops", "etl", window=3600)
    obs = Observations(last_success={"etl": T0 - 1000}, pipelines=frozenset({"etl"}))
    assert evaluate(rule, obs, T0).state == "OK"
    assert evaluate(rule, obs, T0 + 2601).state == "ALARM"
    never = Observations(pipelines=frozenset({"etl"}))
    assert evaluate(rule, never, T0) == Verdict("ALARM", "pipeline etl has never succeeded")


def test_backlog_alarm_compares_the_queue() -> None:
    rule = AlarmRule("backlog", "backlog", "ops", limit=10)
    assert evaluate(rule, Observations(queued=10), T0).state == "OK"
    assert evaluate(rule, Observations(queued=11), T0).state == "ALARM"


def test_an_alarm_fires_once_on_entering_and_once_on_leaving() -> None:
    rule = AlarmRule("backlog", "backlog", "ops", limit=0)
    sequence = [0, 0, 3, 4, 5, 0, 0, 2]
    state: AlarmState | None = None
    fired = []
    for minute, queued in enumerate(sequence):
        now = T0 + 60 * minute
        state, what = transition(state, rule, evaluate(rule, Observations(queued=queued), now), now)
        fired.append(what)
    assert fired == [None, None, "ALARM", None, None, "OK", None, "ALARM"]
    assert state is not None and state.state == "ALARM" and state.since == T0 + 60 * 7


def test_insufficient_data_never_fires_and_keeps_since() -> None:
    rule = AlarmRule("f", "freshness", "ops", "etl", window=60)
    start, what = transition(None, rule, Verdict("INSUFFICIENT_DATA", "no run"), T0)
    assert what is None
    same, what = transition(start, rule, Verdict("INSUFFICIENT_DATA", "still no run"), T0 + 60)
    assert what is None and same.since == T0 and same.reason == "still no run"
    ok, what = transition(same, rule, Verdict("OK", "fresh"), T0 + 120)
    assert what is None and ok.since == T0 + 120


@given(st.lists(st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA"]), max_size=40))
def test_fires_exactly_at_alarm_entries_and_exits(states: list[str]) -> None:
    rule = AlarmRule("x", "backlog", None, limit=1)
    current: AlarmState | None = None
    fired = []
    for i, name in enumerate(states):
        current, what = transition(current, rule, Verdict(name, ""), T0 + i)
        fired.append(what)
    entries = sum(1 for i, s in enumerate(states) if s == "ALARM" and (i == 0 or states[i - 1] != "ALARM"))
    exits = sum(1 for i, s in enumerate(states) if s == "OK" and i > 0 and states[i - 1] == "ALARM")
    assert fired.count("ALARM") == entries
    assert fired.count("OK") == exits


def test_durations_parse_units() -> None:
    assert [parse_duration(v, "w") for v in (90, "90", "90s", "10m", "2h", "1d", "1.5h", "250ms")] == [
        90, 90, 90, 600, 7200, 86400, 5400, 0.25
    ]  # fmt: skip
    with pytest.raises(UsageError, match="alarm 'x': window: '10 minutes' is not a duration"):
        parse_duration("10 minutes", "alarm 'x': window")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lockgate.toml"
    path.write_text(text)
    return path


def test_rules_are_read_from_lockgate_toml(tmp_path: Path) -> None:
    write(
        tmp_path,
        """
[[alarms]]
name = "etl-failing"
kind = "failures"
pipeline = "etl"
count = 3
window = "10m"
topic = "ops"

[[alarms]]
name = "etl-sla"
kind = "duration"
pipeline = "etl"
max_duration = "2h"

[[alarms]]
name = "etl-fresh"
kind = "freshness"
pipeline = "etl"
window = "1d"

[[alarms]]
name = "queue"
kind = "backlog"
max_queued = 50
""",
    )
    rules = rules_from_settings(load(environ={}, cwd=tmp_path))
    assert rules == [
        AlarmRule("etl-failing", "failures", "ops", "etl", 3, 600),
        AlarmRule("etl-sla", "duration", None, "etl", 7200, 0),
        AlarmRule("etl-fresh", "freshness", None, "etl", 0, 86400),
        AlarmRule("queue", "backlog", None, None, 50, 0),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('name = "a"\nkind = "sometimes"', "alarm 'a': kind 'sometimes' is not one of"),
        ('name = "a"\nkind = "failures"\nwindow = "1m"', "alarm 'a': a failures alarm needs `count`"),
        ('name = "a"\nkind = "failures"\ncount = 2', "alarm a: window must be above 0"),
        ('name = "a"\nkind = "backlog"\nmax_queued = 5\ncount = 3', "unknown keys count for a backlog alarm"),
        ('name = "a"\nkind = "freshness"\nwindow = "1h"', "a freshness alarm needs a pipeline"),
        ('kind = "backlog"\nmax_queued = 5', "alarms\\[0\\] needs a name"),
        ('name = "a"\nkind = "backlog"\nmax_queued = "lots"', "max_queued must be a whole number"),
    ],
)
def test_bad_rules_name_the_file_and_the_alarm(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, f"[[alarms]]\n{body}\n")
    with pytest.raises(UsageError, match=message) as info:
        rules_from_settings(load(environ={}, cwd=tmp_path))
    assert str(path) in str(info.value)
