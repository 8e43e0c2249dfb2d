"""Notebooks rendered to HTML for ``/api/files/{id}/html`` and ``/shared/<token>`` (design 3.10).

The export is nbconvert's HTML exporter, as ``/nbconvert/html`` runs it
(:func:`nbserver.services.nbconvert.exporting.export_notebook`), in the thread pool. Results are kept per
file version, the file's id with its (device, inode, size, mtime) on disk, in a cache bounded
by ``FileServices.render_cache_mb``; two requests for the same version wait for one export.

Every rendered page is served under :func:`sandbox_policy`: a CSP ``sandbox`` without
``allow-same-origin`` gives the document an opaque origin, so its scripts (Plotly and Bokeh
charts need them; ``allow-scripts`` when ``FileServices.render_allow_scripts``) reach neither
the API nor the server's cookies.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from typing import TYPE_CHECKING

from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput, NotFound, Unprocessable
from nbserver.services.nbconvert.exporting import ConversionFailed, export_notebook
from nbserver.services.files.store import FileRecord

if TYPE_CHECKING:
    from nbserver.services.files.manager import FileServices

CacheKey = tuple[str, int, int, int, int]
#: File versions whose failed render is remembered (see ``NotebookRenderer._failures``).
FAILURES_KEPT = 256


def sandbox_policy(allow_scripts: bool, frame_ancestors: str = "'self'") -> str:
    """The Content-Security-Policy of a rendered notebook: sandboxed (never ``allow-same-origin``),
    no form posts, no ``<base>``, no fetch/XHR/websocket (nbviewer's policy, nbviewer PR #785)."""
    sandbox = "sandbox allow-scripts" if allow_scripts else "sandbox"
    return f"{sandbox}; form-action 'none'; base-uri 'none'; connect-src 'none'; frame-ancestors {frame_ancestors}"


class NotebookRenderer:
    """HTML of notebooks by file version, exported off the event loop, in a bounded LRU cache."""

    def __init__(self, services: FileServices) -> None:
        self.services = services
        self._cache: OrderedDict[CacheKey, bytes] = OrderedDict()
        self._cached_bytes = 0
        self._exports: dict[CacheKey, asyncio.Future[bytes]] = {}
        #: Versions nbconvert could not render, with the message answered (a public link asked
        #: again must not run the exporter again each time); the newest FAILURES_KEPT.
        self._failures: OrderedDict[CacheKey, str] = OrderedDict()

    @property
    def max_bytes(self) -> int:
        return int(self.services.render_cache_mb * 1024 * 1024)

    async def _key(self, record: FileRecord) -> CacheKey:
        """The cache key of the file's current version; NotFound or OSError when it is gone."""
        return await run_blocking(self._version, record)

    def _version(self, record: FileRecord) -> CacheKey:
        info = os.stat(self.services.contents_manager.visible_os_path(record.path))
        return record.id, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns

    async def html(self, record: FileRecord) -> bytes:
        """The notebook of ``record`` as an HTML page (UTF-8 bytes).

        InvalidInput ``not_a_notebook`` for anything but a notebook; Unprocessable (422)
        ``unreadable_notebook`` when its file does not parse as a notebook, ``unrenderable_notebook``
        when nbconvert's exporter fails on it (remembered for that file version).
        """
        if record.kind != "notebook":
            raise InvalidInput("Only notebooks can be rendered as HTML.", code="not_a_notebook")
        if record.state != "live":
            raise NotFound("A trashed notebook is not rendered; restore it first.", code="not_found")
        try:
            key = await self._key(record)
        except (OSError, NotFound):
            raise NotFound("No such file id.", code="not_found") from None
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        failed = self._failures.get(key)
        if failed is not None:
            raise Unprocessable(failed, code="unrenderable_notebook")
        running = self._exports.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._exports[key] = future
        try:
            body = await self._export(record, key)
            future.set_result(body)
            self._remember(key, body)
            return body
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it; nobody else must be told it went unseen
            raise
        finally:
            del self._exports[key]

    async def _export(self, record: FileRecord, key: CacheKey) -> bytes:
        try:
            model = await self.services.contents_manager.get(record.path, type="notebook")
        except InvalidInput as exc:
            raise Unprocessable(exc.message, code="unreadable_notebook") from None
        try:
            body, _, _ = await run_blocking(export_notebook, "html", model["content"], model["name"])
        except ConversionFailed as exc:
            # The HTML exporter needs nothing the server may lack (no pandoc): what it fails on is
            # in the notebook (a schema-invalid one, or content the schema allows that nbconvert
            # cannot handle, such as a number where it wants widget state). 422, not a 500.
            message = f"This notebook cannot be rendered: {model.get('message') or exc.message}"
            self._remember_failure(key, message)
            raise Unprocessable(message, code="unrenderable_notebook") from None
        return body

    def _remember_failure(self, key: CacheKey, message: str) -> None:
        self._failures[key] = message
        while len(self._failures) > FAILURES_KEPT:
            self._failures.popitem(last=False)

    def _remember(self, key: CacheKey, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        self._cache[key] = body
        self._cached_bytes += len(body)
        while self._cached_bytes > self.max_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= len(dropped)
