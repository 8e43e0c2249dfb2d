"""Failed-login throttling: each client address gets a few attempts per time window."""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

MAX_TRACKED_CLIENTS = 10_000  # bound on memory if many addresses fail at once


class LoginRateLimiter:
    """Counts failed logins per client key and says how long a client must wait."""

    def __init__(self, max_failures: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key)
        if failures is None:
            return deque()
        horizon = self.clock() - self.window_seconds
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        failures = self._recent(key)
        if len(failures) < self.max_failures:
            return 0.0
        return max(0.0, failures[0] + self.window_seconds - self.clock())

    def record_failure(self, key: str) -> None:
        if key not in self._failures and len(self._failures) >= MAX_TRACKED_CLIENTS:
            for stale in list(self._failures)[: MAX_TRACKED_CLIENTS // 10]:
                self._recent(stale)
            if len(self._failures) >= MAX_TRACKED_CLIENTS:
                self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(key, deque()).append(self.clock())

    def reset(self, key: str) -> None:
        self._failures.pop(key, None)
