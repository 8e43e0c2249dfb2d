"""When the server started and when it last saw a request: the figures of ``/api/status``."""

from __future__ import annotations

import time


class ActivityTracker:
    """Records the start time and the time of the latest client activity (POSIX seconds)."""

    def __init__(self) -> None:
        self.started = time.time()
        self.last_activity = self.started

    def touch(self) -> None:
        self.last_activity = time.time()
