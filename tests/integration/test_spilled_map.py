"""A `.map` over a list too big for the store: each element costs the same, however long the list."""

from __future__ import annotations

from pathlib import Path

import pytest

import lockgate
from lockgate.dag.loader import load_file

HERE = Path(__file__).parent
P = load_file(HERE / "pipelines_for_tests.py")


def _spill_reads(home: Path, n: int) -> int:
    """How often files under the results folder are read while running a map over n items."""
    reads = 0
    results = str(home.absolute() / "results")
    original = Path.read_text
    original_bytes = Path.read_bytes

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        nonlocal reads
        reads += str(self.absolute()).startswith(results)
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    def read_bytes(self: Path) -> bytes:
        nonlocal reads
        reads += str(self.absolute()).startswith(results)
        return original_bytes(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "read_text", read_text)
        patch.setattr(Path, "read_bytes", read_bytes)
        run = lockgate.run(P.wide_map, n=n, executor="inline")
    assert run.status == "SUCCEEDED" and run.output == n * (n - 1)
    assert list((home / "results" / run.run_id).glob("numbers.*"))  # the list was spilled
    return reads


def test_a_spilled_list_is_read_once_per_run_not_once_per_element(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("LOCKGATE_ENGINE__RESULT_MAX_BYTES", "64")
    small = _spill_reads(home, 50)
    large = _spill_reads(home, 500)
    assert small == large <= 2, (small, large)
