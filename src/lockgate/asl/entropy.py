"""Where a state machine's random numbers and UUIDs come from: seeded, recorded or replayed."""

from __future__ import annotations

import random
import uuid
from typing import Protocol


class Entropy(Protocol):
    def random(self) -> float:
        """A uniform sample from [0, 1)."""
        ...

    def uuid(self) -> str:
        """A version 4 UUID as text."""
        ...


class SeededEntropy:
    """Draws from a private generator: the same seed gives the same draws."""

    def __init__(self, seed: int | str | None = None) -> None:
        self._rng = random.Random(seed)

    def random(self) -> float:
        return self._rng.random()

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


class RecordingEntropy:
    """Passes draws through from `source` and keeps them, so a durable run can store them."""

    def __init__(self, source: Entropy) -> None:
        self._source = source
        self.drawn: list[float | str] = []

    def random(self) -> float:
        value = self._source.random()
        self.drawn.append(value)
        return value

    def uuid(self) -> str:
        value = self._source.uuid()
        self.drawn.append(value)
        return value

    def take(self) -> list[float | str]:
        """The draws since the last call."""
        drawn, self.drawn = self.drawn, []
        return drawn


class ReplayEntropy:
    """Gives back recorded draws in order, then falls through to `source` for new ones."""

    def __init__(self, recorded: list[float | str], source: Entropy) -> None:
        self._recorded = list(reversed(recorded))
        self._source = source

    def _next(self) -> float | str | None:
        return self._recorded.pop() if self._recorded else None

    def random(self) -> float:
        value = self._next()
        return float(value) if isinstance(value, (int, float)) else self._source.random()

    def uuid(self) -> str:
        value = self._next()
        return value if isinstance(value, str) else self._source.uuid()
