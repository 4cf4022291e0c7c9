"""`clear` and `mark` on real runs: new attempts in the same run, outcomes set by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

import lockgate
from lockgate import reruns
from lockgate.core.errors import UsageError
from lockgate.dag.loader import load_file
from lockgate.runtime import default_runtime

HERE = Path(__file__).parent


@pytest.fixture
def flows(home: Path):
    home.mkdir(parents=True, exist_ok=True)
    module = load_file(HERE / "reruns_pipelines.py")
    module.MARKER = home / "enrich-ok"
    module.MARKER.unlink(missing_ok=True)
    return module


def events_of(run_id: str) -> list:
    return default_runtime().state(run_id)[2]


def test_clear_downstream_reruns_a_succeeded_step_and_what_follows_keeping_the_rest(flows) -> None:
    flows.MARKER.write_text("")
    first = lockgate.run(flows.chain, executor="inline")
    assert first.status == "SUCCEEDED" and first.output == "total 60"
    runtime = default_runtime()
    done = reruns.clear(runtime, first.run_id, "enrich", downstream=True, actor="ana", queue=False)
    assert done.steps == ["enrich", "load", "report"] and done.by == "here"
    again = runtime.carry_on(first.run_id, executor="inline")
    assert again.status == "SUCCEEDED" and again.output == "total 60"
    attempts = {s.name: s.attempts for s in again.steps}
    assert attempts == {"extract": 1, "enrich": 2, "load": 2, "report": 2}
    history = events_of(first.run_id)
    cleared = [e for e in history if e.type == "StepsCleared"]
    assert len(cleared) == 1 and cleared[0].actor == "ana"
    assert [e.type for e in history].count("RunSucceeded") == 2


def test_clear_upstream_and_a_failed_run_is_reopened(flows) -> None:
    failed = lockgate.run(flows.chain, executor="inline")
    assert failed.status == "FAILED" and failed.step("load").status == "SKIPPED"
    flows.MARKER.write_text("")
    runtime = default_runtime()
    done = reruns.clear(runtime, failed.run_id, "load", upstream=True, downstream=True, actor="ana", queue=False)
    assert done.steps == ["extract", "enrich", "load", "report"]
    again = runtime.carry_on(failed.run_id, executor="inline")
    assert again.status == "SUCCEEDED" and again.output == "total 60"
    assert again.step("extract").attempts == 2 and again.step("report").attempts == 2


def test_mark_success_lets_downstream_proceed_and_names_who_did_it(flows) -> None:
    failed = lockgate.run(flows.chain, executor="inline")
    assert failed.status == "FAILED"
    runtime = default_runtime()
    reruns.mark(runtime, failed.run_id, "enrich", "SUCCEEDED", actor="bo", queue=False)
    again = runtime.carry_on(failed.run_id, executor="inline")
    assert again.status == "SUCCEEDED" and again.output == "total 0"  # load summed nothing: enrich gave no rows
    assert again.step("enrich").status == "SUCCEEDED" and again.step("enrich").attempts == 1
    assert again.step("report").attempts == 2  # it ran after the failure, and again after the mark
    marked = [e for e in events_of(failed.run_id) if e.type == "StepMarked"]
    assert [(m.step, m.status, m.actor) for m in marked] == [("enrich", "SUCCEEDED", "bo")]


def test_mark_failed_fails_the_run_and_all_done_steps_still_run(flows) -> None:
    flows.MARKER.write_text("")
    first = lockgate.run(flows.chain, executor="inline")
    runtime = default_runtime()
    reruns.mark(runtime, first.run_id, "report", "FAILED", actor="bo", queue=False)
    again = runtime.carry_on(first.run_id, executor="inline")
    assert again.status == "FAILED" and "marked failed by bo" in (again.cause or "")
    assert again.step("load").status == "SUCCEEDED" and again.step("load").attempts == 1


def test_refusals_name_the_fault(flows) -> None:
    first = lockgate.run(flows.chain, executor="inline")
    runtime = default_runtime()
    with pytest.raises(UsageError, match="has no step 'nope'"):
        reruns.clear(runtime, first.run_id, "nope", actor="a", queue=False)
    with pytest.raises(UsageError, match="SUCCEEDED or FAILED"):
        reruns.mark(runtime, first.run_id, "load", "SKIPPED", actor="a", queue=False)
    mapped = lockgate.run(flows.mapped, executor="inline")
    with pytest.raises(UsageError, match="one element of a mapped step"):
        reruns.clear(runtime, mapped.run_id, "square[1]", actor="a", queue=False)


def test_a_cleared_mapped_step_maps_again(flows) -> None:
    first = lockgate.run(flows.mapped, executor="inline")
    runtime = default_runtime()
    reruns.clear(runtime, first.run_id, "square", actor="a", queue=False)
    again = runtime.carry_on(first.run_id, executor="inline")
    assert again.status == "SUCCEEDED" and again.output == [1, 4, 9]
    assert again.step("square[2]").attempts == 2
