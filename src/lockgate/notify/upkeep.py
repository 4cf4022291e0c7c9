"""The service's periodic notification work: retrying due deliveries and evaluating alarms.

`lockgate serve` and `lockgate scheduler` run one Upkeep thread. Every
`[notify] deliver_every_seconds` it sends the deliveries whose retry is due (lockgate.notify.delivery),
so a webhook that was down receives its message once it is back; every
`[notify] alarm_every_seconds` it evaluates the `[[alarms]]` (lockgate.notify.monitor).
A pass that fails is logged and tried again at the next period; it never stops the service.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class Upkeep:
    """Periodic delivery retries and alarm evaluation for one runtime."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.deliver_every = max(0.05, float(settings.get("notify", "deliver_every_seconds", 5.0)))
        self.alarm_every = max(0.05, float(settings.get("notify", "alarm_every_seconds", 15.0)))
        self.thread: threading.Thread | None = None

    def pass_once(self, now: float, alarms: bool) -> None:
        """One delivery pass, and one alarm evaluation when `alarms`."""
        from lockgate.notify.delivery import deliver_due
        from lockgate.notify.monitor import evaluate_alarms

        try:
            deliver_due(self.runtime)
        except Exception as exc:
            self._failed(exc, "retrying due deliveries failed; trying again in %g s", self.deliver_every)
        if alarms:
            try:
                evaluate_alarms(self.runtime, now)
            except Exception as exc:
                self._failed(exc, "evaluating alarms failed; trying again in %g s", self.alarm_every)

    @staticmethod
    def _failed(exc: Exception, message: str, seconds: float) -> None:
        """A database that cannot be reached for now is one warning line; anything else a traceback."""
        from lockgate.store.sql import describe_unreachable, unreachable

        if unreachable(exc):
            log.warning(message + " (the store is unreachable: %s)", seconds, describe_unreachable(exc))
        else:
            log.exception(message, seconds)

    def run(self, stop: threading.Event) -> None:
        next_alarms = 0.0
        while True:
            now = self.runtime.clock()
            due = now >= next_alarms
            if due:
                next_alarms = now + self.alarm_every
            self.pass_once(now, due)
            if stop.wait(self.deliver_every):
                return

    def start(self, stop: threading.Event) -> bool:
        """Run in a daemon thread until `stop` is set; False when the store keeps no notifications."""
        if getattr(self.runtime.store, "engine", None) is None:
            return False
        self.thread = threading.Thread(target=self.run, args=(stop,), name="lockgate-upkeep", daemon=True)
        self.thread.start()
        return True
