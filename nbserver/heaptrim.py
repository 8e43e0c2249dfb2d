"""Give freed heap memory back to the system once a busy spell is over.

Under many clients the server's threads free most of what a burst of requests allocated, but
glibc keeps the freed pages in its arenas (one per thread that allocated, up to eight per core),
so the process stays as large as its busiest moment: after 50 clients for 10 s, 8 MB of the
21 MB a fresh server grew by was such free memory (docs/performance.md, section 11). ``malloc_trim(0)`` hands back
the free memory of the main arena and the free chunks of the others (not the free top of a
thread's arena: hence one arena, ``malloc_arena_max``); :class:`HeapTrimmer` calls it (in a thread: it walks the heap) after requests were
served and then none for ``heap_trim_quiet`` seconds, so never in the middle of a burst. Where
the C library has no ``malloc_trim`` (musl, macOS) it does nothing. It complements
``malloc_keep_bytes`` (:mod:`nbserver.allocator`): during a spell glibc keeps freed buffers for
the next request's reuse, and once the spell is over the trim hands them back.
"""

from __future__ import annotations

import asyncio
import time

from traitlets import Float
from traitlets.config import LoggingConfigurable

from nbserver.allocator import glibc, trim_heap
from nbserver.blocking import run_blocking


class HeapTrimmer(LoggingConfigurable):
    """Trims the heap once requests stop coming (see the module docstring); started and stopped by the app."""

    heap_trim_quiet = Float(
        2.0, min=0.0,
        help="Seconds without a request, after some were served, before freed heap memory is given back "
        "to the system (glibc's malloc_trim). 0 turns it off.",
    ).tag(config=True)

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self._last_request = 0.0
        self._busy_since_trim = False
        self._task: asyncio.Task[None] | None = None
        #: Trims made so far (for tests and logs).
        self.trims = 0

    def saw_request(self) -> None:
        """Called once per finished request (from the access log hook: cheap)."""
        self._last_request = time.monotonic()
        self._busy_since_trim = True

    def start(self) -> None:
        if self.heap_trim_quiet > 0 and glibc() is not None and self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        quiet = self.heap_trim_quiet
        while True:
            await asyncio.sleep(quiet / 2)
            if self._busy_since_trim and time.monotonic() - self._last_request >= quiet:
                self._busy_since_trim = False
                try:
                    await run_blocking(trim_heap)
                except Exception:  # pragma: no cover - a C call; never let it end the loop
                    self.log.exception("malloc_trim failed")
                self.trims += 1
