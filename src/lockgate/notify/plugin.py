"""The runtime plugin: metrics, notifications and lineage observe every run of a Runtime."""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import Any

log = logging.getLogger(__name__)

_notifiers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
# What must be flushed when the interpreter exits, for programs that never call Runtime.close()
_open: weakref.WeakSet[Any] = weakref.WeakSet()


@atexit.register
def _close_open() -> None:
    for item in list(_open):
        try:
            item.close()
        except Exception:  # exiting anyway; say what was lost
            log.exception("flushing %r at exit failed", item)


def install(runtime: Any) -> None:
    """Add the observers and closers of this area to a new Runtime."""
    from lockgate.server import metrics

    if metrics.available():
        runtime.observers.append(metrics.observe)
    if getattr(runtime.store, "engine", None) is not None:
        from lockgate.notify.notifier import Notifier

        notifier = Notifier(runtime)
        _notifiers[runtime] = notifier
        runtime.observers.append(notifier.observe)
        runtime.closers.append(notifier.close)
        _open.add(notifier)
    else:
        log.debug("store %r has no SQL engine: notifications are off", runtime.store)
    lineage = runtime.settings.table("lineage")
    if lineage.get("file") or lineage.get("url"):
        from lockgate.notify.lineage import LineageEmitter

        emitter = LineageEmitter(
            runtime,
            str(lineage.get("file") or ""),
            str(lineage.get("url") or ""),
            str(lineage.get("namespace") or "lockgate"),
        )
        runtime.observers.append(emitter.observe)
        runtime.closers.append(emitter.close)
        _open.add(emitter)


def notifier_of(runtime: Any) -> Any:
    """The Notifier of a runtime; raises UsageError when its store cannot keep notifications."""
    from lockgate.core.errors import UsageError

    notifier = _notifiers.get(runtime)
    if notifier is None:
        raise UsageError("notifications need a SQL store (SQLite or PostgreSQL)")
    return notifier
