"""Watermark values survive the store with their types, so they compare as the column does."""

from __future__ import annotations

import datetime as dt
import decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate.tasks._watermarks import decode, encode

values = (
    st.integers(-(2**62), 2**62)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.dates()
    | st.datetimes()
    | st.datetimes(timezones=st.just(dt.UTC))
    | st.decimals(allow_nan=False, allow_infinity=False, places=4)
    | st.times()
)


@given(values)
def test_a_value_comes_back_equal_and_of_its_type(value: object) -> None:
    back = decode(encode(value))
    assert back == value and type(back) is type(value)


def test_other_types_are_refused_by_name() -> None:
    with pytest.raises(TypeError, match="bytes"):
        encode(b"x")


def test_a_decimal_keeps_its_digits() -> None:
    assert decode(encode(decimal.Decimal("12345678901234567890.123"))) == decimal.Decimal("12345678901234567890.123")
