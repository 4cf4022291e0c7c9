"""Retries with a backoff rate: a step fails with a transient error three times, and the third
retry succeeds. With an interval of 10 s and a backoff rate of 1.5 the waits before the retries
are 10 s, 15 s and 22.5 s (47.5 s in all):

    lockgate run examples/retry_backoff.py:retry_backoff                      # about 48 s
    lockgate run examples/retry_backoff.py:retry_backoff --param interval=0.2 # the same, 50 times faster

See the waits in the run's history: every failed attempt is a StepFailed event with its error,
followed by a RetryScheduled event with the `wait` in seconds (10, 15, 22.5) and `due_at`:

    lockgate show RUN_ID            # RUN_ID is printed by `lockgate run` (or `lockgate runs`)
    lockgate show RUN_ID --json     # "history": [..., {"type": "RetryScheduled", "retry": 2, "wait": 15.0, ...}]

A hard failure (a data-quality error, a code error) would not be retried: see
examples/failures.py. The same retry in a state machine: examples/retry_backoff.asl.json.
"""

from __future__ import annotations

from lockgate import Retry, context, pipeline, task


@task
def call_partner_api(failures: int) -> dict[str, int]:
    """Stands in for a call whose first `failures` attempts hit a transient network error."""
    attempt = context().attempt
    if attempt <= failures:
        raise ConnectionResetError(f"attempt {attempt}: the partner API reset the connection")
    print(f"attempt {attempt} succeeded")
    return {"attempts": attempt}


@pipeline
def retry_backoff(interval: float = 10.0, failures: int = 3) -> object:
    policy = Retry(max_attempts=3, interval=interval, backoff_rate=1.5)  # ConnectionResetError is soft
    return call_partner_api.options(retry=policy)(failures)
