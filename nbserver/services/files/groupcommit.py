"""Group commit: requests that arrive while a batch is being made durable go together in the next one.

A move to the trash ends with fsyncs (the entry's sidecar, the entry, the folder it left) that a
journalling filesystem turns into one journal commit each when they come one at a time; done
together for several items, one commit covers them all. :class:`GroupCommit` gives each caller
its own result while the work runs in batches: one batch at a time, and every request that
arrived meanwhile forms the next batch (no timer, so a lone request never waits for company).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncContextManager, Awaitable, Callable, Generic, TypeVar, Union

T = TypeVar("T")
R = TypeVar("R")

#: What a batch gives back for one request: its result, or the exception that request raises.
Outcome = Union[R, BaseException]


class GroupCommit(Generic[T, R]):
    """Run ``run_batch`` over the requests submitted while the previous batch ran.

    ``run_batch(requests)`` returns one outcome per request, in order: a result, or an exception
    for that request alone; an exception raised by ``run_batch`` itself fails the whole batch.
    ``max_batch`` (at least 1) bounds a batch's size; the rest wait for the next. ``turn`` (an
    ``asyncio.Lock``, say) is entered before a batch is formed, so requests that came while it
    was held by others go in the same batch.
    """

    def __init__(self, run_batch: Callable[[list[T]], Awaitable[list[Outcome[R]]]], max_batch: int = 64,
                 turn: AsyncContextManager[object] | None = None) -> None:
        self._run_batch = run_batch
        self._turn = turn
        self._max_batch = max(1, max_batch)
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None
        #: Sizes of the batches run so far (the last 100), for tests and logs.
        self.batch_sizes: list[int] = []

    async def submit(self, request: T) -> R:
        """The outcome of ``request`` once the batch it joined has run."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            batch: list[tuple[T, asyncio.Future[R]]] = []
            try:
                async with self._turn or contextlib.nullcontext():
                    batch, self._waiting = self._waiting[:self._max_batch], self._waiting[self._max_batch:]
                    self.batch_sizes = [*self.batch_sizes[-99:], len(batch)]
                    outcomes = await self._run_batch([request for request, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"a batch of {len(batch)} gave {len(outcomes)} outcomes")
            except asyncio.CancelledError:  # the owner is closing: no request is left hanging
                for _, future in [*batch, *self._waiting]:
                    future.cancel()
                self._waiting = []
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), outcome in zip(batch, outcomes):
                if future.done():  # its caller was cancelled: the work is done all the same
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)
