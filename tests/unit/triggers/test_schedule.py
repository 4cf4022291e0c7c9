import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lockgate.core.errors import UsageError
from lockgate.triggers import Cron, Interval
from lockgate.triggers.schedule import data_interval, logical_date, next_slots, slots_between_dates

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def at(*args: int, tz: dt.tzinfo = PARIS) -> dt.datetime:
    return dt.datetime(*args, tzinfo=tz)


def test_daily_0230_runs_once_on_the_spring_forward_day() -> None:
    cron = Cron("30 2 * * *", timezone="Europe/Paris")
    slots = next_slots(cron, at(2026, 3, 28, 12), at(2026, 3, 30, 12))
    assert [s.isoformat() for s in slots] == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day: it runs once, at the gap's end
        "2026-03-30T02:30:00+02:00",
    ]


def test_daily_0230_runs_once_on_the_fall_back_day() -> None:
    cron = Cron("30 2 * * *", timezone="Europe/Paris")
    slots = next_slots(cron, at(2026, 10, 24, 12), at(2026, 10, 26, 12))
    assert [s.isoformat() for s in slots] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]


def test_half_hourly_job_runs_in_both_repeated_hours_of_fall_back() -> None:
    cron = Cron("*/30 * * * *", timezone="America/New_York")
    slots = next_slots(cron, at(2026, 11, 1, 0, 45, tz=NEW_YORK), at(2026, 11, 1, 2, 0, tz=NEW_YORK))
    assert [s.isoformat() for s in slots] == [
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:30:00-04:00",
        "2026-11-01T01:00:00-05:00",
        "2026-11-01T01:30:00-05:00",
        "2026-11-01T02:00:00-05:00",
    ]


def test_logical_date_is_the_slot_start_with_the_zone_offset() -> None:
    cron = Cron("0 6 * * *", timezone="Europe/Paris")
    (slot,) = next_slots(cron, at(2026, 11, 23, 12), at(2026, 11, 24, 12))
    assert logical_date(cron, slot.timestamp()) == "2026-11-24T06:00:00+01:00"
    assert data_interval(cron, slot.timestamp()) == ("2026-11-23T06:00:00+01:00", "2026-11-24T06:00:00+01:00")


def test_slots_are_exact_without_jitter() -> None:
    cron = Cron("*/5 * * * *")
    slots = next_slots(cron, 1_795_000_001.5, 1_795_000_001.5 + 3600)
    assert all(s.timestamp() % 300 == 0 for s in slots) and len(slots) == 12


def test_interval_slots_are_aligned_on_the_start_date() -> None:
    every = Interval(15, start_date=100.0)
    assert [s.timestamp() for s in next_slots(every, 100.0, 160.0)] == [115.0, 130.0, 145.0, 160.0]


def test_backfill_dates_are_inclusive_in_the_schedule_zone() -> None:
    cron = Cron("0 6 * * *", timezone="Europe/Paris")
    slots = slots_between_dates(cron, dt.date(2026, 11, 1), dt.date(2026, 11, 24))
    assert len(slots) == 24
    assert logical_date(cron, slots[0]) == "2026-11-01T06:00:00+01:00"
    assert logical_date(cron, slots[-1]) == "2026-11-24T06:00:00+01:00"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Cron("0 6 * *"), "expected 5 fields"),
        (lambda: Cron("0 25 * * *"), "Cron('0 25 * * *')"),
        (lambda: Cron("0 6 * * *", timezone="Mars/Olympus"), "unknown time zone 'Mars/Olympus'"),
        (lambda: Cron("0 6 * * *", start_date="yesterday"), "'yesterday' is not an ISO 8601"),
        (lambda: Interval(0), "seconds must be above 0"),
    ],
)
def test_bad_schedules_are_refused_naming_the_fault(make, message) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")):
        make()


ZONES = st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"])
EXPRS = st.sampled_from(["30 2 * * *", "*/30 * * * *", "0 * * * *", "15 1,2,3 * * 0", "0 0 L * *", "45 23 * * 1-5"])
# 2024-2027: several DST transitions in every zone above that has them
INSTANTS = st.floats(1_704_067_200, 1_830_297_600)


@settings(max_examples=150, deadline=None)
@given(EXPRS, ZONES, INSTANTS, st.floats(0, 5 * 86400), st.floats(0, 5 * 86400))
def test_slots_split_at_any_point_are_the_same_slots(expr, zone, start, gap1, gap2) -> None:
    cron = Cron(expr, timezone=zone)
    middle, end = start + gap1, start + gap1 + gap2
    whole = [s.timestamp() for s in next_slots(cron, start, end)]
    parts = [s.timestamp() for s in next_slots(cron, start, middle) + next_slots(cron, middle, end)]
    assert whole == parts
    assert whole == sorted(set(whole))
    assert all(start < s <= end for s in whole)


@settings(max_examples=150, deadline=None)
@given(EXPRS, ZONES, INSTANTS)
def test_the_latest_slot_before_an_instant_is_the_one_before_the_next(expr, zone, instant) -> None:
    cron = Cron(expr, timezone=zone)
    latest = cron.last_slot_at_or_before(instant)
    assert latest is not None and latest <= instant
    following = next(iter(cron.slots_after(latest)))
    assert following > instant
