"""Time-based triggers: cron schedules with time zones, and fixed intervals.

A slot is one instant a schedule fires. Its `logical_date` is the slot's start (the cron time),
written in ISO 8601 with the schedule's UTC offset; its data interval runs from the previous
slot to this one. Every function here is pure: the clock is an argument.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lockgate.core.errors import UsageError

UTC = dt.UTC


class Schedule(Protocol):
    """What the scheduler needs of a time-based trigger."""

    catchup: bool
    start_date: float | None

    @property
    def key(self) -> str: ...

    def tz(self) -> dt.tzinfo: ...

    def slots_after(self, after: float) -> Iterator[float]: ...

    def last_slot_at_or_before(self, at: float) -> float | None: ...


def _epoch(value: dt.datetime | dt.date | str | float | int | None, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"{where}: {value!r} is not an ISO 8601 date or time") from None
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    raise UsageError(f"{where}: {value!r} is not a date, a time or epoch seconds")


@dataclass(frozen=True, slots=True)
class Cron:
    """A cron schedule (5 fields, cronsim's syntax with L and #) in a time zone.

    `catchup=False`: the first run is the next slot after the schedule is registered, and after
    downtime only the latest missed slot runs. `catchup=True`: one run per slot since
    `start_date` (default: when the schedule was registered). A naive `start_date` is UTC.
    """

    expr: str
    timezone: str = "UTC"
    catchup: bool = False
    start_date: dt.datetime | dt.date | str | float | None = None

    def __post_init__(self) -> None:
        from cronsim import CronSim, CronSimError

        fields = self.expr.split()
        if len(fields) != 5:
            raise UsageError(
                f"Cron({self.expr!r}): expected 5 fields (minute hour day month weekday), got {len(fields)}"
            )
        try:
            CronSim(self.expr, dt.datetime(2026, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            raise UsageError(f"Cron({self.expr!r}): {exc}") from None
        self.tz()
        _epoch(self.start_date, f"Cron({self.expr!r}) start_date")

    @property
    def key(self) -> str:
        return f"cron:{self.expr}@{self.timezone}"

    def tz(self) -> dt.tzinfo:
        try:
            return ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"Cron({self.expr!r}): unknown time zone {self.timezone!r}") from None

    @property
    def start(self) -> float | None:
        return _epoch(self.start_date, "start_date")

    def slots_after(self, after: float) -> Iterator[float]:
        """Slot instants strictly after `after` (epoch seconds), in order, without end."""
        from cronsim import CronSim

        tz = self.tz()
        local = dt.datetime.fromtimestamp(after, tz)
        last = after
        for slot in CronSim(self.expr, local):
            at = slot.timestamp()
            # cronsim walks wall-clock time; keep only instants that move forward (fall-back hours).
            if at > last:
                last = at
                yield at

    def last_slot_at_or_before(self, at: float) -> float | None:
        from cronsim import CronSim

        local = dt.datetime.fromtimestamp(at, self.tz()) + dt.timedelta(seconds=1)
        for slot in CronSim(self.expr, local, reverse=True):
            value = slot.timestamp()
            if value <= at:
                return value
        return None

    def describe(self) -> str:
        text = f"cron {self.expr} {self.timezone}"
        return text + (" catchup" if self.catchup else "")


@dataclass(frozen=True, slots=True)
class Interval:
    """Every `seconds` seconds, at instants aligned on `start_date` (default the epoch): for sub-minute needs."""

    seconds: float
    catchup: bool = False
    start_date: dt.datetime | dt.date | str | float | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise UsageError(f"Interval({self.seconds!r}): seconds must be above 0")
        _epoch(self.start_date, f"Interval({self.seconds}) start_date")

    @property
    def key(self) -> str:
        return f"interval:{self.seconds:g}"

    def tz(self) -> dt.tzinfo:
        return ZoneInfo(self.timezone)

    @property
    def start(self) -> float | None:
        return _epoch(self.start_date, "start_date")

    def _anchor(self) -> float:
        return self.start or 0.0

    def slots_after(self, after: float) -> Iterator[float]:
        anchor = self._anchor()
        n = max(0, int((after - anchor) // self.seconds))
        while True:
            slot = anchor + n * self.seconds
            if slot > after:
                yield slot
            n += 1

    def last_slot_at_or_before(self, at: float) -> float | None:
        anchor = self._anchor()
        if at < anchor:
            return None
        return anchor + ((at - anchor) // self.seconds) * self.seconds

    def describe(self) -> str:
        return f"every {self.seconds:g} s" + (" catchup" if self.catchup else "")


def next_slots(schedule: Cron | Interval, after: dt.datetime | float, until: dt.datetime | float) -> list[dt.datetime]:
    """Slots in (after, until], as aware datetimes in the schedule's time zone."""
    start = _epoch(after, "after")
    end = _epoch(until, "until")
    assert start is not None and end is not None
    tz = schedule.tz()
    out = []
    for at in schedule.slots_after(start):
        if at > end:
            break
        out.append(dt.datetime.fromtimestamp(at, tz))
    return out


def logical_date(schedule: Cron | Interval, slot: float) -> str:
    """The slot's start in ISO 8601 with the schedule's UTC offset (`2026-11-24T06:00:00+01:00`)."""
    return dt.datetime.fromtimestamp(slot, schedule.tz()).isoformat()


def data_interval(schedule: Cron | Interval, slot: float) -> tuple[str, str]:
    """(start, end) of the data a slot covers: from the previous slot to this one."""
    previous = schedule.last_slot_at_or_before(slot - 1e-6)
    if previous is None:
        previous = slot
    tz = schedule.tz()
    return dt.datetime.fromtimestamp(previous, tz).isoformat(), dt.datetime.fromtimestamp(slot, tz).isoformat()


def slot_params(schedule: Cron | Interval, slot: float) -> dict[str, str]:
    """What a slot's run is given: logical_date and its data interval."""
    start, end = data_interval(schedule, slot)
    return {"logical_date": logical_date(schedule, slot), "data_interval_start": start, "data_interval_end": end}


def slots_between_dates(schedule: Cron | Interval, first: dt.date, last: dt.date) -> list[float]:
    """Slots whose local date (in the schedule's zone) is within [first, last], both inclusive."""
    tz = schedule.tz()
    begin = dt.datetime(first.year, first.month, first.day, tzinfo=tz).timestamp()
    day_after = last + dt.timedelta(days=1)
    end = dt.datetime(day_after.year, day_after.month, day_after.day, tzinfo=tz).timestamp()
    out = []
    for at in schedule.slots_after(begin - 1e-6):
        if at >= end:
            break
        out.append(at)
    return out
