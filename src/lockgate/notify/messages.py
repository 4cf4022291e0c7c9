"""What a run's events say to people: the messages of on_failure, on_success and on_retry topics."""

from __future__ import annotations

import re
from typing import Any

from lockgate import _json
from lockgate.core import history as h
from lockgate.core.engine import RunState, StepState
from lockgate.notify.channels import Message

DATA_QUALITY = "lockgate.DataQuality"
# A report's location in a failure's cause: a URI, or an absolute path of a report-like file.
_REPORT = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+|(?<![\w/])/[\w./-]+\.(?:json|html|csv|txt|md|parquet)\b", re.I)


def report_location(cause: str) -> str | None:
    """Where a data-quality failure's cause says its report is, if it says so."""
    match = _REPORT.search(cause)
    return match.group(0).rstrip(".,;)'\"") if match else None


def messages_for(state: RunState, batch: list[h.Event]) -> list[tuple[str, Message]]:
    """(topic kind, message) for the events of a batch that notify: "on_failure", "on_success", "on_retry"."""
    out: list[tuple[str, Message]] = []
    for event in batch:
        if isinstance(event, h.RetryScheduled):
            out.append(("on_retry", retry_message(state, event)))
        elif isinstance(event, (h.RunFailed, h.RunTimedOut)):
            out.append(("on_failure", failure_message(state, event)))
        elif isinstance(event, h.RunSucceeded):
            out.append(("on_success", success_message(state, event)))
    return out


def _failed_step(state: RunState) -> StepState | None:
    for name in state.failed:
        step = state.steps.get(name)
        if step is not None and step.children:
            failed = [c for c in step.children if c.status == "FAILED"]
            return failed[0] if failed else step
        if step is not None:
            return step
    failed = [s for s in state.steps.values() if s.status == "FAILED" and not s.children]
    return failed[0] if failed else None


def failure_message(state: RunState, event: h.RunFailed | h.RunTimedOut) -> Message:
    status = "TIMED_OUT" if isinstance(event, h.RunTimedOut) else "FAILED"
    step = _failed_step(state)
    error_name, cause = event.error, event.cause
    if step is not None and step.error is not None:
        error_name, cause = step.error.name, step.error.cause
    lines = [
        f"Pipeline {state.pipeline} run {state.run_id} {status}.",
        "",
        f"Pipeline:    {state.pipeline}",
        f"Run:         {state.run_id}",
        f"Status:      {status}",
        f"Started:     {_json.iso(state.started_at)}",
        f"Ended:       {_json.iso(event.at)}",
    ]
    data: dict[str, Any] = {
        "kind": "run_failed" if status == "FAILED" else "run_timed_out",
        "run_id": state.run_id,
        "pipeline": state.pipeline,
        "status": status,
        "step": None,
        "attempt": None,
        "error": {"name": error_name, "cause": cause},
        "started_at": _json.iso(state.started_at),
        "ended_at": _json.iso(event.at),
    }
    if step is not None:
        lines.append(f"Failed step: {step.name} (attempt {step.attempt})")
        data.update(step=step.name, attempt=step.attempt)
    lines += [f"Error:       {error_name}", f"Message:     {cause}"]
    if error_name == DATA_QUALITY:
        report = report_location(cause)
        if report is not None:
            lines.append(f"Report:      {report}")
            data["report"] = report
    log_command = f"lockgate logs {state.run_id} {step.name}" if step is not None else f"lockgate logs {state.run_id}"
    lines += ["", f"See the log: {log_command}", f"See the run: lockgate show {state.run_id}"]
    data["log_command"] = log_command
    where = f": step {step.name}" if step is not None else ""
    subject = f"[lockgate] {state.pipeline} {status}{where} ({error_name}) run {state.run_id}"
    return Message(subject, "\n".join(lines) + "\n", data)


def success_message(state: RunState, event: h.RunSucceeded) -> Message:
    seconds = event.at - state.started_at
    text = (
        f"Pipeline {state.pipeline} run {state.run_id} SUCCEEDED in {seconds:.1f} s.\n\n"
        f"Pipeline: {state.pipeline}\nRun:      {state.run_id}\nStatus:   SUCCEEDED\n"
        f"Started:  {_json.iso(state.started_at)}\nEnded:    {_json.iso(event.at)}\n\n"
        f"See the run: lockgate show {state.run_id}\n"
    )
    data = {
        "kind": "run_succeeded",
        "run_id": state.run_id,
        "pipeline": state.pipeline,
        "status": "SUCCEEDED",
        "duration_seconds": seconds,
        "started_at": _json.iso(state.started_at),
        "ended_at": _json.iso(event.at),
    }
    return Message(f"[lockgate] {state.pipeline} SUCCEEDED run {state.run_id}", text, data)


def retry_message(state: RunState, event: h.RetryScheduled) -> Message:
    step = state.steps.get(event.step)
    attempt = step.attempt if step is not None else 0
    error = step.error if step is not None else None
    name, cause = (error.name, error.cause) if error is not None else ("", "")
    text = (
        f"Pipeline {state.pipeline} run {state.run_id}: step {event.step} attempt {attempt} failed; "
        f"retry {event.retry} in {event.wait:g} s.\n\n"
        f"Pipeline: {state.pipeline}\nRun:      {state.run_id}\nStep:     {event.step} (attempt {attempt})\n"
        f"Error:    {name}\nMessage:  {cause}\n\nSee the log: lockgate logs {state.run_id} {event.step}\n"
    )
    data = {
        "kind": "step_retrying",
        "run_id": state.run_id,
        "pipeline": state.pipeline,
        "step": event.step,
        "attempt": attempt,
        "retry": event.retry,
        "wait_seconds": event.wait,
        "error": {"name": name, "cause": cause},
    }
    return Message(f"[lockgate] {state.pipeline}: step {event.step} retrying ({name}) run {state.run_id}", text, data)
