"""SearchService: full-text search over the served files, kept fresh in the background (design 3.12, 4.5).

Writes only enqueue: the contents manager's save, rename and delete listeners put a path in a
queue (coalesced per path) and return, so indexing never slows a save. One indexer task waits
``index_delay`` seconds (autosave storms coalesce), then handles the queue in batches: a stat of
each file on the indexer's own thread and ids from the file services; then the extraction and
one short index transaction per file (:mod:`.writer`) in the index worker process at idle
priority (:mod:`.worker`: the SQLite index), or on the indexer's thread (the PostgreSQL index,
whose writes happen in the database server anyway; or with ``index_worker`` off). A file whose
fingerprint (size, mtime, inode) is unchanged is not re-read; a renamed one only gets its new name. Changes made outside
the server are found by a periodic scan (``scan_interval``) that lists only changed folders and
rechecks indexed files in budgets (:mod:`nbserver.services.search.scan`), and on demand by
:meth:`SearchService.reindex`, which first lets the file services reconcile ids (design section
4.4, checklist item 11).

Trash and restore need no indexing at all: the index is keyed by file id and a query joins the
metadata store's live rows, so a trashed file drops out of results and its restore brings it
back as it was.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import contextlib
import functools
import itertools
import json
import os
import posixpath
import stat
import time
from typing import Any, Callable, TypeVar

from traitlets import Bool, Enum, Float, Int, Unicode
from traitlets.config import LoggingConfigurable

from nbserver.errors import InvalidInput, NotFound, ServiceUnavailable
from nbserver.services.contents.manager import default_type_for
from nbserver.services.files.manager import FileServices
from nbserver.services.files.store import store_errors
from nbserver.services.search.extract import Limits, Segment
from nbserver.services.search.index import FALLBACK, FTS5, Filters, Hit, Ranking, SearchIndex, \
    SQLiteSearchIndex, fts5_available
from nbserver.services.search.worker import IndexWorker
from nbserver.services.search.writer import DocumentWriter, ExtractSettings, Found, Work
from nbserver.services.search.query import Query, match_ranges, may_occur, substring_ranges
from nbserver.services.search.scan import ChangeScan, Listed, ScanCounts, fingerprint, indexable
from nbserver.timestamps import utc_now_iso

T = TypeVar("T")

#: Paging (design 3.12): ``limit`` 1..100, offsets beyond MAX_OFFSET are refused.
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
MAX_OFFSET = 1000
#: Matches shown per result, and the characters of a snippet around a match.
MATCHES_PER_RESULT = 3
SNIPPET_CHARS = 200
SNIPPET_LEAD = 60
#: Seconds between prunes of the index after scans that found no change.
PRUNE_INTERVAL = 3600.0
#: Characters of a result's text that are searched for match ranges, so that a few huge
#: notebooks on a page cannot make it slow (a match further in is not shown; the hit still is).
MATCH_CHARS_PER_RESULT = 50_000


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset in an opaque cursor; InvalidInput (400) for anything this server did not make."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset = value["o"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise InvalidInput("Invalid cursor.", code="invalid_field") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput("Invalid cursor.", code="invalid_field")
    if offset > MAX_OFFSET:
        raise InvalidInput(f"Search pages end after {MAX_OFFSET} results; refine the query.",
                           code="invalid_field")
    return offset


def snippet(text: str, ranges: list[tuple[int, int]]) -> tuple[str, list[list[int]]]:
    """A window of ``text`` around its first range, and the ranges inside it, moved to its offsets."""
    start = max(0, ranges[0][0] - SNIPPET_LEAD)
    if start:  # begin at a word
        space = text.find(" ", start, ranges[0][0])
        start = space + 1 if space >= 0 else start
    end = min(len(text), start + SNIPPET_CHARS)
    inside = [[a - start, min(b, end) - start] for a, b in ranges if a >= start and a < end]
    return text[start:end], inside


class SearchService(LoggingConfigurable):
    """The search index of a :class:`FileServices` root: queries, status, and keeping it fresh."""

    enabled = Bool(True, help="Whether /api/search answers (503 search_disabled when not) and files are indexed.").tag(
        config=True)
    engine = Enum(["auto", FTS5, FALLBACK], "auto", help="fts5: SQLite full-text search; fallback: names only "
                  "(LIKE); auto: fts5 where this SQLite has it.").tag(config=True)
    index_path = Unicode("", help="The SQLite search index. Default: search.sqlite beside the metadata database.").tag(
        config=True)
    index_delay = Float(0.5, min=0.0, help="Seconds the indexer waits after a change before indexing it, so an "
                        "autosave storm is indexed once.").tag(config=True)
    scan_interval = Float(60.0, min=0.1, help="Seconds between scans for files changed outside the server.").tag(
        config=True)
    scan_stat_budget = Int(2000, min=1, help="Stat calls per pass of the scan for outside changes; the scan "
                           "pauses scan_pause seconds between passes, so queries and saves keep their speed.").tag(
        config=True)
    scan_pause = Float(0.02, min=0.0, help="Seconds the scan for outside changes pauses between passes.").tag(
        config=True)
    recheck_per_scan = Int(10_000, min=0, help="Indexed files each scan stats again (in path order, resuming "
                           "where the previous scan stopped) to find files edited in place outside the server, "
                           "which leave their folder's mtime as it was.").tag(config=True)
    index_worker = Bool(True, help="Extract and write the SQLite index in a child process at idle CPU and I/O "
                        "priority (stopped with the server, started again if it dies), so that a build does "
                        "not slow saves; off: on a thread of the server. The PostgreSQL index is always "
                        "written from the server's thread.").tag(config=True)
    batch_size = Int(100, min=1, help="Files indexed per batch; the indexer yields between batches.").tag(config=True)
    save_quiet = Float(0.25, min=0.0, help="The indexer (before each file) and the scan (before each pass) wait "
                       "until no save has finished for this many seconds (but at most max_save_wait), so that "
                       "indexing does not slow saves.").tag(config=True)
    max_save_wait = Float(2.0, min=0.0, help="The longest the indexer waits for a quiet moment per file (seconds), "
                          "so that a stream of saves cannot stop indexing.").tag(config=True)
    batch_pause = Float(0.005, min=0.0, help="Seconds the indexer sleeps between batches of a large build, "
                        "so saves keep their speed.").tag(config=True)
    rank_limit = Int(5_000, min=1, help="Queries matching more files than this are not ranked by bm25 but "
                     "listed newest first (\"ranked\": false): ranking so many costs more than a query may take, "
                     "and a word in that many files says little about which is best.").tag(config=True)
    max_text_file_bytes = Int(10 * 1024 * 1024, min=0, help="Files larger than this (bytes) are found by name "
                              "only.").tag(config=True)
    max_chars_per_file = Int(256 * 1024, min=0, help="Characters of text indexed per file.").tag(config=True)
    max_output_chars = Int(1000, min=0, help="Characters indexed per text output of a notebook cell.").tag(
        config=True)
    max_outputs_chars = Int(16 * 1024, min=0, help="Characters of outputs indexed per notebook.").tag(config=True)

    def __init__(self, file_services: FileServices, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.file_services = file_services
        self.contents_manager = file_services.contents_manager
        self.index: SearchIndex | None = None
        #: Paths to index, oldest first; with the fingerprint the scan found (None: stat it first).
        self._pending: dict[str, str | None] = {}
        self._in_flight = 0
        self._prune_wanted = False
        self._last_prune = -PRUNE_INTERVAL
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._writer = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbserver-search-index")
        self._readers = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="nbserver-search-read")
        self._scan_lock = asyncio.Lock()
        self._scanning = False
        self._scanned = False
        self._last_scan: str | None = None
        self._last_save = 0.0
        self._worker: IndexWorker | None = None
        self._worker_resets = 0
        self._documents: DocumentWriter | None = None
        self._rebuild_wanted = False
        self._closed = False

    @functools.cached_property
    def _changes(self) -> ChangeScan:
        return ChangeScan(self.contents_manager.real_root, self.file_services.visible_name)

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Listen to the contents manager's writes (before serving; the index opens in the background)."""
        if not self.enabled:
            return
        self.contents_manager.add_save_listener(self.path_saved)
        self.contents_manager.add_rename_listener(self.path_renamed)
        self.contents_manager.add_delete_listener(self.path_deleted)

    def start_background(self) -> None:
        """Start the indexer, and the periodic scan where the root's ids are in use (start-up does not wait).

        A root never written through this server and never searched gets no index (and no state
        folder, as with file ids): the first save, rename or search starts the scans, and the first
        scan builds the index in the background.
        """
        if not self.enabled or self._tasks:
            return
        self._wake = asyncio.Event()
        self._tasks = [asyncio.get_running_loop().create_task(self._index_forever())]
        if self._pending or self.file_services.database is not None or os.path.exists(
                self.file_services.database_location(create=False)[0]):
            self._activate()

    def _activate(self) -> None:
        """Start the scans (once; only once the background is running)."""
        if self._scanning or self._wake is None:
            return
        self._scanning = True
        self._tasks.append(asyncio.get_running_loop().create_task(self._scan_forever()))
        self._wake.set()

    async def stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self._scanning = False

    def close(self) -> None:
        """Stop the index worker (reaped by its PID) and close the index; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        index, worker = self.index, self._worker
        if worker is not None:
            self._writer.submit(worker.stop).result()
        if index is not None:
            self._writer.submit(index.close).result()
            self.index = None
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)

    def index_location(self) -> str:
        """Where the index is: ``index_path``, else ``search.sqlite`` beside the metadata database."""
        if self.index_path:
            return self.index_path
        folder, name = os.path.split(self.file_services.database_location()[0])
        return os.path.join(folder, "search" + name[len("meta"):] if name.startswith("meta") else name + "-search")

    def chosen_engine(self) -> str:
        if self.engine == FALLBACK:
            return FALLBACK
        if self.file_services.database is not None:
            from nbserver.services.search.pg_index import TSVECTOR

            return TSVECTOR
        if fts5_available():
            return FTS5
        if self.engine == FTS5:
            self.log.error("SearchService.engine is fts5, but this SQLite has no FTS5: searching names only")
        return FALLBACK

    def _open_index(self) -> SearchIndex:
        """The index, opened on first need (on the indexer thread); ServiceUnavailable if it cannot be.

        With the worker, the worker opens it for writing (making its schema) and the server only reads.
        """
        if self.index is not None:
            return self.index
        try:
            index = self._new_index()
            if isinstance(index, SQLiteSearchIndex) and self.index_worker:
                self._start_worker(index)
            else:
                index.open()
                self._documents = DocumentWriter(index, self._extract_settings(), self._wait_for_quiet,
                                                 self._read_for_index)
        except store_errors() + (OSError, RuntimeError) as exc:
            self.log.error("Search is unavailable: its index cannot be opened (%s)", exc)
            raise ServiceUnavailable("Search is unavailable (see the server log).") from None
        self.index = index
        return index

    def _extract_settings(self) -> ExtractSettings:
        return ExtractSettings(Limits(self.max_chars_per_file, self.max_output_chars, self.max_outputs_chars),
                               self.max_text_file_bytes)

    def _start_worker(self, index: SQLiteSearchIndex) -> None:
        worker = IndexWorker({
            "index": {"db_path": index.db_path, "meta_path": index.meta_path, "engine": index.engine,
                      "busy_timeout": index.busy_timeout, "rank_limit": index.rank_limit},
            "extract": self._extract_settings().as_json(),
            "scan": {"root": self.contents_manager.real_root,
                     "allow_hidden": bool(self.contents_manager.allow_hidden)}})
        worker.start()
        self._worker = worker
        self._worker_resets = worker.resets

    @property
    def worker_pid(self) -> int | None:
        """The PID of the index worker process while one runs (None: none started, or the PostgreSQL index)."""
        return self._worker.pid if self._worker is not None else None

    def _new_index(self) -> SearchIndex:
        """PostgreSQL's index beside the metadata store's tables when a database is configured, else SQLite's."""
        database = self.file_services.database
        if database is not None:
            from nbserver.services.search.pg_index import PostgresSearchIndex

            return PostgresSearchIndex(database, self.file_services.metadata_owner, self.chosen_engine(),
                                       self.rank_limit)
        meta_path = self.file_services.database_location()[0]
        return SQLiteSearchIndex(self.index_location(), meta_path, self.chosen_engine(),
                                 self.file_services.busy_timeout, self.rank_limit)

    async def _ready_index(self) -> SearchIndex:
        """The open index, with the metadata database it reads made first (ids of the root).

        Once open, no trip to the indexer's thread: a query never waits behind a batch being indexed.
        """
        if self.index is not None:
            return self.index
        await self.file_services.ids_for([("", "directory")])
        return await self._on_writer(lambda: self._open_index())

    async def _on_writer(self, func: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer, func)

    async def _on_reader(self, func: Callable[[SearchIndex], T]) -> T:
        index = await self._ready_index()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._readers, func, index)
        except store_errors() as exc:
            raise ServiceUnavailable("The search index is unavailable; try again.",
                                     log_detail=f"{type(exc).__name__}: {exc}") from exc

    # -- the queue (listeners only enqueue) ----------------------------------------------

    def enqueue(self, path: str, listed: str | None = None) -> None:
        """Queue ``path`` (a file or a folder: its files) for indexing; ``listed``: the fingerprint of the
        regular file the scan found there (:data:`.scan.Listed`), so the server need not stat it again.
        On the event loop; never blocks."""
        if not self.enabled:
            return
        self._pending[path] = listed
        self._activate()
        if self._wake is not None:
            self._wake.set()

    async def path_saved(self, path: str) -> None:
        self._last_save = time.monotonic()
        self.enqueue(path)

    async def path_renamed(self, old_path: str, new_path: str) -> None:
        self.enqueue(new_path)

    async def path_deleted(self, path: str) -> None:
        if self._scanning and self._wake is not None:
            self._prune_wanted = True
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending) + self._in_flight

    async def _index_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(self.index_delay)
            try:
                await self.index_pending()
            except Exception:  # a failed batch must not end the indexer
                self.log.exception("Indexing for search failed")

    async def index_pending(self) -> None:
        """Index everything queued, batch by batch; then drop documents of ids gone for good."""
        while self._pending:
            batch = list(itertools.islice(self._pending.items(), self.batch_size))
            for path, _ in batch:
                del self._pending[path]
            self._in_flight = len(batch)
            try:
                await self._index_batch(batch, bulk=bool(self._pending))
            finally:
                self._in_flight = 0
            if self._pending:
                await asyncio.sleep(self.batch_pause)
        if self._prune_wanted:
            self._prune_wanted = False
            self._last_prune = time.monotonic()
            index = await self._ready_index()
            await self._on_writer(lambda: self._worker_call({"op": "prune"}) if self._worker else index.prune())

    async def _index_batch(self, batch: list[tuple[str, str | None]], bulk: bool) -> None:
        """Index the files at the batch's paths; ``bulk``: more batches follow (a build).

        A file the scan listed (with its fingerprint: a build is all such files) is not statted or
        resolved again here: the scan, in the index worker, did that much.
        """
        await self._ready_index()
        await self._give_way_to_saves()
        found = [self._listed_file(path, mark) for path, mark in batch if mark is not None and indexable(path)]
        unlisted = [path for path, mark in batch if mark is None]
        if unlisted:
            found += await self._on_writer(lambda: self._stat_all(unlisted))
        if not found:
            return
        ids = await self.file_services.ids_for([(item.path, item.kind) for item in found])
        work = [(ids[item.path], item) for item in found if item.path in ids]
        await self._on_writer(lambda: self._write_all(work, bulk))

    def _stat_all(self, paths: list[str]) -> list[Found]:
        """The indexable files at ``paths`` (a folder gives the files below it); blocking."""
        found: list[Found] = []
        for path in filter(indexable, paths):
            try:
                os_path = self.contents_manager.visible_os_path(path)
                info = os.lstat(os_path)
            except (OSError, InvalidInput, NotFound):  # gone, hidden or reserved: nothing to index
                continue
            if stat.S_ISREG(info.st_mode):
                found.append(Found(path, default_type_for(path), fingerprint(info), os_path))
            elif stat.S_ISDIR(info.st_mode):
                found.extend(self._files_below(path))
        return found

    def _listed_file(self, path: str, mark: str) -> Found:
        """A regular file the scan listed under the real root, with the fingerprint it found."""
        return Found(path, default_type_for(path), mark,
                     os.path.join(self.contents_manager.real_root, *path.split("/")))

    def _files_below(self, folder: str) -> list[Found]:
        return [self._listed_file(path, fingerprint(info)) for path, info in self._changes.files_below(folder)]

    def _wait_for_quiet(self) -> None:
        """Give way to saves (on the indexer thread): CPU and the GIL go to the requests first."""
        deadline = time.monotonic() + self.max_save_wait
        while pause := self._save_pause(deadline):
            time.sleep(pause)

    def _save_pause(self, deadline: float) -> float:
        """Seconds to wait before looking again for a quiet moment between saves: until the last save
        is ``save_quiet`` seconds old or ``deadline`` (monotonic) comes, whichever is first; 0 once
        either has. One wake-up per save_quiet at most while saves stream, not a poll: each wake-up
        of the indexer's thread takes the GIL from the thread serving a save."""
        now = time.monotonic()
        return max(0.0, min(self._last_save + self.save_quiet, deadline) - now)

    def _write_all(self, work: list[Work], bulk: bool) -> None:
        """Extract and write (blocking, on the indexer thread): in the worker, else here."""
        if self._worker is None:
            assert self._documents is not None
            self._documents.write(work)
            return
        # Pace as the thread does: while saves come, one file per quiet moment (or per max_save_wait);
        # else the rest of the batch at once. The worker's writes are disk work a save's fsync may
        # have to wait for, whatever its CPU priority.
        start = 0
        while start < len(work):
            self._wait_for_quiet()
            busy = time.monotonic() - self._last_save < self.save_quiet
            chunk = work[start:start + 1] if busy else work[start:]
            start += len(chunk)
            self._worker_call({"op": "index", "bulk": bulk or start < len(work), "work": [
                [file_id, item.path, item.kind, item.fingerprint, item.os_path] for file_id, item in chunk]})

    def _worker_call(self, request: dict[str, Any]) -> dict[str, Any]:
        """A request to the index worker (on the indexer thread). When the worker, started again, had
        to make the index anew (unsafe after a crash of the machine), the readers open the new one
        and the next scan lists every folder again, so that everything is queued."""
        assert self._worker is not None
        reply = self._worker.call(request)
        if self._worker.resets != self._worker_resets:
            self._worker_resets = self._worker.resets
            old, self.index = self.index, self._new_index()
            if old is not None:
                old.close()
            self._rebuild_wanted = True
        return reply

    def _read_for_index(self, item: Found) -> bytes | None:
        """The file's bytes (None: gone, or larger than ``max_text_file_bytes``); blocking."""
        try:
            with open(self.contents_manager.visible_os_path(item.path), "rb") as handle:
                data = handle.read(self.max_text_file_bytes + 1)
        except (OSError, InvalidInput):
            return None
        return data if len(data) <= self.max_text_file_bytes else None

    # -- changes made outside the server -------------------------------------------------

    async def _scan_forever(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:  # a failed scan must not end the scans
                self.log.exception("Scanning for search failed")
            await asyncio.sleep(self.scan_interval)

    async def scan(self, full: bool = False) -> ScanCounts:
        """Queue files changed outside the server (see :mod:`.scan`): the crawl of changed folders, and
        the recheck of the next ``recheck_per_scan`` indexed files (of all with ``full``); its counts.

        Passes of ``scan_stat_budget`` stat calls run on a reader thread (never holding up the
        indexer), with ``scan_pause`` seconds between them.
        """
        counts = ScanCounts()
        budget = self.scan_stat_budget
        await self._ready_index()
        async with self._scan_lock:
            restart = full or self._rebuild_wanted
            self._rebuild_wanted = False
            done = False
            while not done:
                done, changed = await self._scan_pass("crawl", budget, counts, restart)
                restart = False
                await self._queue_changed(changed, counts, done)
            left = self.recheck_per_scan
            while full or left > 0:
                chunk = budget if full else min(budget, left)
                done, changed = await self._scan_pass("recheck", chunk, counts, False)
                left -= chunk
                await self._queue_changed(changed, counts, done)
                if done:
                    break
        # Orphans (ids the metadata store forgot) never show in results; dropping them is housekeeping.
        if counts.changed or time.monotonic() - self._last_prune > PRUNE_INTERVAL:
            self._prune_wanted = True
        self._scanned = True
        self._last_scan = utc_now_iso()
        if self._wake is not None:
            self._wake.set()
        return counts

    async def _scan_pass(self, kind: str, budget: int, counts: ScanCounts,
                         restart: bool) -> tuple[bool, list[Listed]]:
        """One ``crawl`` or ``recheck`` pass of at most ``budget`` stat calls, in the index worker (where
        the scan's listings live) or on a reader thread: (whether it ended, the paths that changed)."""
        if self._worker is None:
            if restart:
                self._changes.restart()
            run = self._changes.crawl_pass if kind == "crawl" else self._changes.recheck_pass
            return await self._on_reader(lambda index: run(index, budget, counts))
        reply = await self._on_writer(lambda: self._worker_call(
            {"op": "scan", "pass": kind, "budget": budget, "restart": restart}))
        counts.add(ScanCounts(**reply["counts"]))
        return bool(reply["done"]), [(str(path), str(mark)) for path, mark in reply["changed"]]

    async def _queue_changed(self, changed: list[Listed], counts: ScanCounts, last: bool) -> None:
        counts.changed += len(changed)
        for path, mark in changed:
            self.enqueue(path, mark)
        if not last:
            await asyncio.sleep(self.scan_pause)
            await self._give_way_to_saves()

    async def _give_way_to_saves(self) -> None:
        """Wait (on the loop) until no save finished for ``save_quiet`` seconds, at most ``max_save_wait``."""
        deadline = time.monotonic() + self.max_save_wait
        while pause := self._save_pause(deadline):
            await asyncio.sleep(pause)

    async def reindex(self, full: bool = False) -> dict[str, Any]:
        """Reconcile file ids with the disk, then queue what changed (everything with ``full``); the status."""
        index = await self._ready_index()
        await self.file_services.reconcile()
        if full:
            await self._on_writer(lambda: self._worker_call({"op": "forget"}) if self._worker
                                  else index.forget_fingerprints())
        await self.scan(full=True)
        return await self.status()

    # -- queries -------------------------------------------------------------------------

    def _require_enabled(self) -> None:
        """503 when search is off; else the scans start (a first search builds the index)."""
        if not self.enabled:
            raise ServiceUnavailable("Search is turned off on this server.", code="search_disabled")
        self._activate()

    @property
    def state(self) -> str:
        """``building`` until the first scan's files are indexed and while changes wait, else ``ready``."""
        return "ready" if self._scanned and not self.pending else "building"

    async def status(self) -> dict[str, Any]:
        """``{"status", "engine", "documents", "pending", "last_update", "last_scan", "db_bytes"}`` (design
        3.12); ``last_scan`` is when the last scan for outside changes ended (None before the first)."""
        self._require_enabled()
        index = await self._ready_index()
        documents, updated, size = await self._on_reader(lambda index: index.counts())
        return {
            "status": self.state,
            "engine": index.engine,
            "documents": documents,
            "pending": self.pending,
            "last_update": updated,
            "last_scan": self._last_scan,
            "db_bytes": size,
        }

    async def search(self, query: Query, folder: str, kind: str | None, limit: int,
                     offset: int) -> dict[str, Any]:
        """One page of results: ``{"query", "results", "ranked", "next_cursor", "index"}`` (design 3.12).

        ``folder`` ("" for all) restricts to its subtree, ``kind`` to ``notebook`` or ``file``. A hit
        whose file vanished since it was indexed is left out of the page.
        """
        self._require_enabled()
        await self._ready_index()  # the metadata store's owner is known once it is open
        filters = Filters(self.file_services.metadata_owner, folder, kind)

        def page(index: SearchIndex) -> tuple[Ranking, list[dict[str, Any]]]:
            """One trip to a reader thread: the hits, their stored text, and which are still on disk."""
            ranking = index.query(query, filters, limit + 1, offset)
            hits = ranking.hits[:limit]
            segments = index.segments(hit.file_id for hit in hits)
            return ranking, [self._result(hit, segments.get(hit.file_id, []), query, index.engine)
                             for hit in hits if self._present(hit.path)]

        ranking, results = await self._on_reader(page)
        more = len(ranking.hits) > limit
        return {"query": query.text, "results": results, "ranked": ranking.ranked,
                "next_cursor": encode_cursor(offset + limit) if more and offset + limit <= MAX_OFFSET else None,
                "index": {"status": self.state, "pending": self.pending}}

    def _present(self, path: str) -> bool:
        """Whether a hit's file is still there: one lstat. Its path comes from the metadata store,
        and only indexable paths (no hidden or reserved names) are indexed, so it needs no
        resolution of symlinks: nothing of the file is read, and a page has up to 100 hits."""
        return indexable(path) and os.path.lexists(os.path.join(self.contents_manager.real_root, *path.split("/")))

    @staticmethod
    def _result(hit: Hit, segments: list[Segment], query: Query, engine: str) -> dict[str, Any]:
        name = posixpath.basename(hit.path)
        matches: list[dict[str, Any]] = []
        name_ranges = (substring_ranges if engine == FALLBACK else match_ranges)(name, query.positive)
        if name_ranges:
            matches.append({"field": "name", "text": name, "ranges": [list(pair) for pair in name_ranges]})
        content_terms = tuple(term for term in query.positive if not term.names_only)
        budget = MATCH_CHARS_PER_RESULT
        for segment in segments if content_terms else []:
            if len(matches) >= MATCHES_PER_RESULT or budget <= 0:
                break
            if not may_occur(segment.text, content_terms):
                continue
            searched = segment.text[:budget]
            if len(searched) < len(segment.text):  # not a word cut in two
                searched = searched[:max(0, searched.rfind(" "))]
            budget -= max(len(searched), 1)
            ranges = match_ranges(searched, content_terms)
            if not ranges:
                continue
            text, inside = snippet(searched, ranges)
            match: dict[str, Any] = {"field": segment.column, "text": text, "ranges": inside}
            if segment.cell_index is not None:
                match.update({"cell_index": segment.cell_index, "cell_type": segment.cell_type})
            matches.append(match)
        return {"id": hit.file_id, "path": hit.path, "name": name, "type": hit.kind, "score": hit.score,
                "matches": matches}
