"""Digests of large immutable buffers computed on a helper thread while the caller goes on.

hashlib releases the GIL while it hashes more than 2 KiB (CPython's ``HASHLIB_GIL_MINSIZE``), so
the SHA-256 of a notebook of megabytes can run on the second core while the calling thread
parses, validates or writes and fsyncs the same bytes (docs/performance.md section 10, sixth
round). Below :data:`PARALLEL_MIN_BYTES`, or when every helper is busy, the hop to another thread
would cost more than it saves and the digest is computed at once, on the caller's thread.

The helpers only hash: a job never waits for anything, so a caller waiting for its digest cannot
deadlock, even when every thread of the default pool is such a caller. Only ``bytes`` go to a
helper (immutable: nothing can change them while they are hashed).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: Bytes from which a digest runs on a helper thread (below: on the caller's, at once).
PARALLEL_MIN_BYTES = 256 * 1024
#: Helper threads; the machine's second core is what they are for.
HELPERS = 2

_pool = ThreadPoolExecutor(max_workers=HELPERS, thread_name_prefix="nbserver-digest")
_busy = 0
_busy_lock = threading.Lock()


class PendingDigest:
    """The hex digest of some bytes, being computed on a helper thread or already known."""

    def __init__(self, done: str | None = None, future: Future[str] | None = None) -> None:
        self._done = done
        self._future = future

    def hexdigest(self) -> str:
        """The digest, waiting for the helper if it is still hashing (it raises what hashing raised)."""
        if self._done is None:
            assert self._future is not None
            self._done = self._future.result()
        return self._done


def _hexdigest(algorithm: str, chunks: Sequence[bytes]) -> str:
    digest: Any = hashlib.new(algorithm)
    for chunk in chunks:
        digest.update(chunk)
    return str(digest.hexdigest())


def _on_helper(algorithm: str, chunks: Sequence[bytes]) -> str:
    global _busy
    try:
        return _hexdigest(algorithm, chunks)
    finally:
        with _busy_lock:
            _busy -= 1


def digest_aside(algorithm: str, chunks: Sequence[bytes]) -> PendingDigest:
    """The ``hashlib`` digest ``algorithm`` (e.g. ``"sha256"``) of the concatenation of ``chunks``:
    started on a helper thread when they hold at least :data:`PARALLEL_MIN_BYTES` and a helper is
    free, else computed now. Call :meth:`PendingDigest.hexdigest` when the digest is needed."""
    global _busy
    if sum(map(len, chunks)) >= PARALLEL_MIN_BYTES:
        with _busy_lock:
            free = _busy < HELPERS
            if free:
                _busy += 1
        if free:
            try:
                return PendingDigest(future=_pool.submit(_on_helper, algorithm, tuple(chunks)))
            except RuntimeError:  # the interpreter is shutting down: no new threads
                with _busy_lock:
                    _busy -= 1
    return PendingDigest(_hexdigest(algorithm, chunks))
