"""Closing idle items in the background: the periodic culler kernels and terminals share.

A manager (kernels, terminals) owns one :class:`PeriodicCuller`: it starts it when its first item
appears and stops it when the server stops. Each pass asks the manager which items are idle and
closes them one at a time; one that cannot be closed is logged and does not end the culling.
:func:`close_each` is the same close-and-log loop for shutting everything down at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Union

from nbserver.errors import NotFound

Log = Union[logging.Logger, "logging.LoggerAdapter[Any]"]

#: Closes one item by its id or name; NotFound when it is already gone.
Closer = Callable[[str], Awaitable[None]]


class PeriodicCuller:
    """Runs ``cull_once()`` every ``interval`` seconds, from :meth:`start` until :meth:`stop`.

    ``noun`` names one item in the log ("kernel", "terminal"); ``idle_word`` says what idle
    means for them ("idle", "inactive").
    """

    def __init__(self, noun: str, idle_word: str, cull_once: Callable[[], Awaitable[None]],
                 log: Log) -> None:
        self.noun = noun
        self.idle_word = idle_word
        self.cull_once = cull_once
        self.log = log
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self, timeout: float, interval: float) -> None:
        """Start culling items idle for more than ``timeout`` seconds, checked every ``interval``
        seconds; nothing when ``timeout`` is 0 (never cull) or when it already runs."""
        if timeout <= 0 or self._task is not None:
            return
        self.log.info("Culling %ss %s for %g s (checked every %g s)", self.noun, self.idle_word, timeout, interval)
        self._task = asyncio.create_task(self._run(interval))

    async def _run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.cull_once()

    def stop(self) -> None:
        """Cancel the culling task (the first step of the owner's shutdown); idempotent."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def close_idle(self, idle: Iterable[tuple[str, float]], close: Closer) -> None:
        """Close each ``(id, seconds idle)`` item in turn, logging each; an item already gone is
        skipped, one that fails to close is logged with its traceback."""
        for item, seconds in idle:
            self.log.info("Culling %s %s, %s for %.0f s", self.noun, item, self.idle_word, seconds)
            try:
                await close(item)
            except NotFound:
                pass
            except Exception:
                self.log.exception("Culling %s %s failed", self.noun, item)


async def close_each(items: list[str], close: Closer, log: Log, action: str, noun: str) -> None:
    """Close every item at once (server shutdown): logs ``"<action> <n> <noun>(s)"`` first, then a
    warning for each that failed (not one already gone); never raises."""
    if items:
        log.info("%s %d %s(s)", action, len(items), noun)
    results = await asyncio.gather(*(close(item) for item in items), return_exceptions=True)
    for item, result in zip(items, results):
        if isinstance(result, BaseException) and not isinstance(result, NotFound):
            log.warning("%s %s %s: %s", action, noun, item, result)
