import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockgate import Retry
from lockgate.core.errors import ErrorInfo, UsageError
from lockgate.core.retry import RetryPolicy, match_retrier, validate_retriers


def test_waits_follow_the_study_text() -> None:
    policy = RetryPolicy(interval_seconds=10, backoff_rate=1.5)
    assert [policy.delay(n, draw=0.0) for n in (1, 2, 3, 4)] == [10, 15, 22.5, None]


def test_defaults_are_the_asl_defaults() -> None:
    policy = Retry()
    assert (policy.interval_seconds, policy.max_attempts, policy.backoff_rate) == (1.0, 3, 2.0)
    assert [policy.delay(n, 0.5) for n in (1, 2, 3, 4)] == [1, 2, 4, None]


def test_max_delay_caps_each_wait() -> None:
    policy = Retry(max_attempts=6, interval=10, backoff_rate=3, max_delay=60)
    assert [policy.delay(n, 0.0) for n in range(1, 6)] == [10, 30, 60, 60, 60]


def test_full_jitter_scales_the_capped_wait_by_the_draw() -> None:
    policy = Retry(max_attempts=4, interval=10, backoff_rate=1.5, max_delay=60, jitter="FULL")
    assert policy.delay(2, 0.5) == 7.5
    assert policy.delay(1, 0.0) == 0.0


def test_zero_max_attempts_never_retries() -> None:
    assert Retry(max_attempts=0).delay(1, 0.0) is None


caps = st.just(math.inf) | st.floats(1, 3600)


@given(st.integers(1, 5000), st.floats(1, 10), caps, st.floats(0, 1, exclude_max=True))
def test_full_jitter_never_passes_the_cap(retry: int, rate: float, cap: float, draw: float) -> None:
    policy = RetryPolicy(max_attempts=5000, backoff_rate=rate, max_delay_seconds=cap, jitter="FULL")
    wait = policy.delay(retry, draw)
    assert wait is not None and 0 <= wait <= cap


@given(st.integers(1, 50), st.floats(1, 4))
def test_waits_never_shrink(retry: int, rate: float) -> None:
    policy = RetryPolicy(max_attempts=100, backoff_rate=rate, max_delay_seconds=1000)
    first, second = policy.delay(retry, 0.0), policy.delay(retry + 1, 0.0)
    assert first is not None and second is not None and second >= first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backoff_rate": 0.5}, "backoff_rate 0.5 is below 1.0"),
        ({"max_attempts": -1}, "max_attempts -1 is below 0"),
        ({"interval": 0}, "interval 0 must be above 0"),
        ({"jitter": "SOME"}, "jitter 'SOME'"),
    ],
)
def test_bad_policies_are_refused_with_the_field_named(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Retry(**kwargs)


def _error(name: str, retryable: bool, classes: tuple[str, ...] = ()) -> ErrorInfo:
    return ErrorInfo(name=name, cause="x", retryable=retryable, classes=classes)


def test_the_first_matching_retrier_wins() -> None:
    policies = [Retry("lockgate.DataQuality", max_attempts=1), Retry("States.ALL", max_attempts=5)]
    assert match_retrier(policies, _error("lockgate.DataQuality", False)) == 0
    assert match_retrier(policies, _error("ValueError", True)) == 1


def test_default_errors_match_soft_failures_only() -> None:
    policies = [Retry()]
    assert match_retrier(policies, _error("ConnectionError", True)) == 0
    assert match_retrier(policies, _error("TypeError", False)) is None


def test_python_class_names_match_through_the_hierarchy() -> None:
    error = _error("ConnectionRefusedError", True, ("ConnectionRefusedError", "ConnectionError", "OSError"))
    assert match_retrier([Retry(["OSError"])], error) == 0


def test_task_failed_matches_everything_but_a_timeout() -> None:
    policies = [Retry("States.TaskFailed")]
    assert match_retrier(policies, _error("ValueError", True)) == 0
    assert match_retrier(policies, _error("States.Timeout", True)) is None


def test_states_all_must_stand_alone_in_the_last_retrier() -> None:
    with pytest.raises(UsageError, match="States.ALL must appear alone in the last retrier"):
        validate_retriers([Retry("States.ALL"), Retry("ValueError")], "task t")
    with pytest.raises(UsageError, match="States.ALL"):
        validate_retriers([Retry(["States.ALL", "ValueError"])], "task t")
    validate_retriers([Retry("ValueError"), Retry("States.ALL")], "task t")


def test_policies_round_trip_through_json() -> None:
    policy = Retry(["ValueError"], max_attempts=4, interval=10, backoff_rate=1.5, max_delay=60, jitter="FULL")
    assert RetryPolicy.from_json(policy.to_json()) == policy
    assert RetryPolicy.from_json(Retry().to_json()) == Retry()
