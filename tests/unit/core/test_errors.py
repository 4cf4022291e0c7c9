import pytest

from lockgate import DataQualityError, HTTPStatusError, StepTimeout
from lockgate.core.errors import describe


@pytest.mark.parametrize(
    ("exc", "name", "retryable"),
    [
        (DataQualityError("bad rows"), "lockgate.DataQuality", False),
        (TypeError("x"), "TypeError", False),
        (NameError("x"), "NameError", False),
        (PermissionError("x"), "PermissionError", False),
        (KeyError("x"), "KeyError", False),
        (ConnectionRefusedError("x"), "ConnectionRefusedError", True),
        (TimeoutError("x"), "States.Timeout", True),
        (StepTimeout("x"), "States.Timeout", True),
        (HTTPStatusError("x", status=503), "lockgate.HTTP503", True),
        (HTTPStatusError("x", status=404), "lockgate.HTTP404", False),
        (RuntimeError("x"), "RuntimeError", True),
    ],
)
def test_failures_are_named_and_classed(exc: Exception, name: str, retryable: bool) -> None:
    info = describe(exc)
    assert (info.name, info.retryable) == (name, retryable)


def test_a_described_failure_keeps_its_traceback_and_message() -> None:
    try:
        raise ValueError("the rating column has 3 nulls")
    except ValueError as exc:
        info = describe(exc)
    assert info.cause == "the rating column has 3 nulls"
    assert "Traceback" in info.traceback and "test_errors.py" in info.traceback
    assert info.matches("ValueError") and info.matches("States.ALL") and info.matches("States.TaskFailed")


def test_data_quality_errors_are_value_errors_for_callers() -> None:
    assert issubclass(DataQualityError, ValueError)
