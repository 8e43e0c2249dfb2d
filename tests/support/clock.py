"""A clock a test moves by hand: pass it where code takes ``clock=time.monotonic``."""

from __future__ import annotations


class FakeClock:
    """Seconds, starting at 1000; ``clock.now += 60`` is a minute later."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
