"""Timestamps as the Jupyter APIs write them: ISO 8601 in UTC, six fractional digits, a ``Z``.

Every service formats its times here (contents ``created``/``last_modified``, kernel and
terminal ``last_activity``, message headers' ``date``). Six digits always: ``isoformat()``
drops the fraction when the microseconds are zero, which breaks clients that parse with a
fixed format (jupyter_server's gateway client did, about once in a million timestamps).
"""

from __future__ import annotations

import functools
import time
from datetime import datetime, timezone

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


@functools.lru_cache(maxsize=1024)
def iso_timestamp(seconds: float) -> str:
    """A POSIX timestamp (seconds since the epoch) as ``2026-11-29T17:00:00.000000Z``."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime(ISO_FORMAT)


def utc_now_iso() -> str:
    """The current time, formatted as :func:`iso_timestamp`."""
    return iso_timestamp(time.time())
