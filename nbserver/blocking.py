"""Run blocking work (disk, CPU-heavy parsing) off the event loop."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def run_blocking(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func(*args, **kwargs)`` in the loop's default thread pool and await it."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, functools.partial(func, *args, **kwargs))


def usable_cores() -> int:
    """How many CPUs this process may run on (its affinity mask where the OS has one, else the
    machine's count), at least 1: what the defaults of thread and process counts start from."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
