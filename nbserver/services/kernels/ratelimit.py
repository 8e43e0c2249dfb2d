"""A limit on the rate of a kernel's iopub output, so a flood does not bury a browser.

Rates are measured over a sliding window (messages per second and bytes per second);
while either is over its limit, output is dropped. The first drop of a run asks the
caller to send a notice, as Jupyter does.
"""

from __future__ import annotations

import time
from collections import deque
from enum import Enum
from typing import Callable

#: The window is counted in this many slices: old traffic leaves the window slice by slice.
SLICES_PER_WINDOW = 20


class RateDecision(Enum):
    SEND = "send"
    DROP_AND_NOTIFY = "drop-and-notify"
    DROP = "drop"


class OutputRateLimiter:
    """Decides for each message whether it goes out; a limit of 0 turns that limit off."""

    def __init__(
        self,
        msg_rate_limit: float,
        data_rate_limit: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.msg_rate_limit = msg_rate_limit
        self.data_rate_limit = data_rate_limit
        self.window = max(window, 0.001)
        self._slice = self.window / SLICES_PER_WINDOW
        self._clock = clock
        # [slice start, messages, bytes], oldest first
        self._slices: deque[list[float]] = deque()
        self._messages = 0
        self._bytes = 0
        self.limited = False

    @property
    def enabled(self) -> bool:
        return self.msg_rate_limit > 0 or self.data_rate_limit > 0

    def _forget_before(self, now: float) -> None:
        while self._slices and self._slices[0][0] <= now - self.window:
            _, messages, nbytes = self._slices.popleft()
            self._messages -= int(messages)
            self._bytes -= int(nbytes)

    def _record(self, now: float, size: int) -> None:
        if not self._slices or now - self._slices[-1][0] >= self._slice:
            self._slices.append([now, 0, 0])
        current = self._slices[-1]
        current[1] += 1
        current[2] += size
        self._messages += 1
        self._bytes += size

    def message_rate(self) -> float:
        return self._messages / self.window

    def data_rate(self) -> float:
        return self._bytes / self.window

    def admit(self, size: int) -> RateDecision:
        """Count a message of ``size`` bytes and say whether it may be sent."""
        if not self.enabled:
            return RateDecision.SEND
        now = self._clock()
        self._forget_before(now)
        self._record(now, size)
        over = (self.msg_rate_limit > 0 and self.message_rate() > self.msg_rate_limit) or (
            self.data_rate_limit > 0 and self.data_rate() > self.data_rate_limit
        )
        if not over:
            self.limited = False
            return RateDecision.SEND
        if self.limited:
            return RateDecision.DROP
        self.limited = True
        return RateDecision.DROP_AND_NOTIFY
