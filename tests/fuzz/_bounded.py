"""What every fuzz test shares: a small example count in CI, and a time bound per input."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("LOCKGATE_FUZZ_EXAMPLES", "100"))
PER_INPUT_SECONDS = 10.0

fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def bounded(call: Callable[[], Any], seconds: float = PER_INPUT_SECONDS) -> Any:
    """Run `call` in a thread and fail if it has not returned within `seconds` (a hang)."""
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed back to the test's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"no answer within {seconds} s: the input makes it hang")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
