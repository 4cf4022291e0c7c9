"""The log files of a step's attempts, as the web UI and the REST API show them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lockgate.config import mask_url
from lockgate.core.errors import UsageError

MAX_BYTES = 1_000_000  # the tail of a longer log is shown, with a note
MAX_ELEMENTS = 200  # of a mapped step, the logs of this many elements at most


@dataclass(frozen=True, slots=True)
class AttemptLog:
    step: str
    attempt: int
    path: str
    text: str
    exists: bool
    truncated: bool

    def to_json(self) -> dict[str, Any]:
        return {"step": self.step, "attempt": self.attempt, "path": self.path, "text": self.text,
                "exists": self.exists, "truncated": self.truncated}  # fmt: skip


def attempt_logs(runtime: Any, run_id: str, step: str, attempt: int | None = None) -> list[AttemptLog]:
    """The logs of `step` (a step, or a mapped element `name[i]`; a mapped step gives its
    elements'), every attempt or only `attempt`. Raises UsageError for an unknown run or step."""
    record, state, _ = runtime.state(run_id)
    if record.kind == "asl":  # a state machine: the invocations of the state named `step`
        from lockgate.asl.durable import attempt_logs as invocation_logs

        entries = invocation_logs(runtime, record.run_id, step)
        if not entries:  # or one invocation, by its id
            entries = [e for e in invocation_logs(runtime, record.run_id) if e["invocation"] == step]
        return [
            AttemptLog(e["invocation"], e["attempt"], e["path"], mask_url(e["text"]), True, e["truncated"])
            for e in entries[:MAX_ELEMENTS]
            if attempt is None or e["attempt"] == attempt
        ]
    found = state.steps.get(step)
    if found is None:
        parent = state.steps.get(step.partition("[")[0])
        found = next((c for c in (parent.children or ()) if c.name == step), None) if parent else None
    if found is None:
        raise UsageError(f"run {record.run_id} has no step {step!r}")
    owners = [found] if not found.children else list(found.children)[:MAX_ELEMENTS]
    out = []
    for owner in owners:
        numbers = range(1, owner.attempt + 1) if attempt is None else [attempt]
        for number in numbers:
            # wherever the attempt ran: [logs] url is a folder or an object store every machine writes to
            text, exists, truncated = runtime.logs.read(record.run_id, owner.name, number, MAX_BYTES)
            where = runtime.logs.location(record.run_id, owner.name, number)
            text = mask_url(text)  # a task that printed a secret does not show it here
            out.append(AttemptLog(owner.name, number, where, text, exists, truncated))
    return out


def logs_as_text(runtime: Any, run_id: str, step: str, attempt: int | None = None) -> Any:
    """The logs of `step` as one `text/plain` answer (never HTML: a log line is shown as written),
    with `X-Content-Type-Options: nosniff`; 404 for an unknown run or step."""
    from fastapi import HTTPException
    from fastapi.responses import PlainTextResponse

    try:
        entries = attempt_logs(runtime, run_id, step, attempt)
    except UsageError as exc:
        raise HTTPException(404, str(exc)) from None
    if len(entries) == 1:
        text = entries[0].text
    else:
        text = "".join(f"===== {e.step} attempt {e.attempt} =====\n{e.text}\n" for e in entries)
    return PlainTextResponse(text, headers={"X-Content-Type-Options": "nosniff"})
