"""The `notify` task: publish a message to a topic as a step of a pipeline."""

from __future__ import annotations

from typing import Any

from lockgate.dag.task import task


@task
def notify(topic: str, subject: str, message: str) -> dict[str, Any]:
    """Publish `subject` and `message` to every subscription of `topic`; returns the delivery count.

    The deliveries are queued durably before the step succeeds and sent in the background;
    a delivery that fails is retried and never fails the step. An unknown topic fails the
    step (lockgate.UsageError names it).
    """
    from lockgate.attempt import current
    from lockgate.notify.channels import Message
    from lockgate.notify.plugin import notifier_of
    from lockgate.runtime import default_runtime

    ctx = current()
    data: dict[str, Any] = {"kind": "published", "topic": topic}
    if ctx is not None:
        data.update(run_id=ctx.run_id, pipeline=ctx.pipeline, step=ctx.step, attempt=ctx.attempt)
    ids = notifier_of(default_runtime()).publish(topic, Message(subject, message, data), ctx.run_id if ctx else None)
    return {"topic": topic, "deliveries": len(ids)}
