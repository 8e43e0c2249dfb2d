"""FileServices: stable file ids and a restorable trash over the file contents store.

The design is ``file-services.md`` sections 3.6, 3.7 and 4. Ids are UUID4s kept in a
:class:`~nbserver.services.files.store.MetadataStore`, assigned on first sight and moved with
the files by the contents manager's rename listener. Trash, restore and purge run whole on
one writer thread (so they are serialized, and the database has one writing connection), each
as intent -> disk -> commit, so that a crash at any point leaves an item live or in the trash;
:meth:`FileServices.start` resolves the intents a killed server left before serving.

The store never makes a save fail: saves do not touch it, and a listener that cannot update
it logs the error (the ids of those paths are then re-assigned on next sight).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import functools
import hashlib
import os
import posixpath
import stat
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Awaitable, Callable, TypeVar

from jupyter_core.paths import jupyter_data_dir
from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

from nbserver.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    error_for_os_error,
)
from nbserver.services.contents import fileio
from nbserver.services.contents.checkpoints import FileCheckpoints
from nbserver.services.contents.filemanager import FileContentsManager
from nbserver.base.urls import url_escape_path, url_path_join
from nbserver.services.contents.manager import default_type_for, guess_mimetype
from nbserver.timestamps import iso_timestamp
from nbserver.services.files import trashcan
from nbserver.services.files.groupcommit import GroupCommit
from nbserver.services.files.reconciler import TreeCrawler
from nbserver.services.files.relations import FileRelations
from nbserver.services.files.rendering import NotebookRenderer
from nbserver.services.files.sharing import ShareLinks
from nbserver.services.files.upload import StagedUpload
from nbserver.services.files.store import (
    CrawlReport,
    FileRecord,
    MetadataStore,
    SQLiteMetadataStore,
    TrashRecord,
    is_network_filesystem,
    now,
    store_errors,
)

if TYPE_CHECKING:
    from nbserver.db.config import Database

T = TypeVar("T")

@dataclasses.dataclass(frozen=True)
class _TrashMove:
    """A move to the trash under way: its intent is recorded and its entry made, the item not yet moved."""

    record: FileRecord
    os_path: str
    entry: str
    name: str
    checkpoints: list[str]
    intent: str
    trash_id: str


def _path_overlaps(path: str, other: str) -> bool:
    """Whether API paths ``path`` and ``other`` are the same item or one holds the other."""
    return path == other or path.startswith(other + "/") or other.startswith(path + "/") or not (path and other)


#: The alias of the root folder's id (design section 3.7).
ROOT_ALIAS = "root"

#: Seconds between reconciler passes while a crawl cycle is under way (it resumes where it stopped).
RESUME_PAUSE = 1.0


def canonical_id(text: str) -> str | None:
    """The canonical UUID text of ``text``, or None when it is not one (malformed ids are 404)."""
    try:
        parsed = uuid.UUID(text)
    except (ValueError, AttributeError):
        return None
    return str(parsed) if str(parsed) == text.lower() else None


def restored_name(path: str, number: int) -> str:
    """``a (restored).ipynb``, ``a (restored 2).ipynb``... for ``on_conflict: rename``; a name that
    would pass NAME_MAX bytes is shortened on a character boundary (:func:`fileio.fit_name`)."""
    folder, name = posixpath.split(path)
    stem, ext = posixpath.splitext(name)
    suffix = " (restored)" if number == 1 else f" (restored {number})"
    return posixpath.join(folder, fileio.fit_name(f"{stem}{suffix}{ext}"))


class FileServices(LoggingConfigurable):
    """Ids and trash for a :class:`FileContentsManager`'s root."""

    db_path = Unicode(
        "", help="The SQLite metadata database. Default: <root>/.nbserver/meta.sqlite on a writable local root, "
        "else <Jupyter data dir>/nbserver/meta-<hash of the root>.sqlite.",
    ).tag(config=True)
    busy_timeout = Float(5.0, min=0.0, help="Seconds a database write waits for a lock before giving up.").tag(
        config=True)
    trash_retention_days = Float(
        30.0, min=0.0, help="Days a trashed item is kept before the sweep purges it (0: forever).").tag(config=True)
    reconcile_interval = Float(
        300.0, min=0.1, help="Seconds between crawls that follow changes made outside the server.").tag(config=True)
    reconcile_stat_budget = Integer(
        20000, min=0, help="Stat calls one reconciler pass may make (0: no limit); a crawl of a larger tree "
        "resumes in the next pass, a second later. Folders unchanged since they were last listed cost one call.",
    ).tag(config=True)
    missing_retention_days = Float(
        7.0, min=0.0, help="Days the id of a file gone outside the server is kept, in case it comes back.").tag(
        config=True)
    trash_max_bytes = Integer(
        0, min=0, help="Bytes the trash may hold (0: no limit). Past it, the oldest items are purged, after each "
        "trash and by the sweep; an item larger than this alone is refused (409 too_large_for_trash) and can only "
        "be deleted permanently, on request (permanent_delete?confirm=no_trash).",
    ).tag(config=True)
    trash_sweep_interval = Float(
        3600.0, min=0.1, help="Seconds between sweeps of the trash for items past trash_retention_days.").tag(
        config=True)
    debug_pause_at = Unicode(
        "", help="TEST ONLY: the name of a step (trash:intent, trash:sidecar, trash:renamed, restore:intent, "
        "restore:moved, purge:intent, purge:removed) at which trash operations stop for good, so that a "
        "test can kill the server there. Never set it in use.",
    ).tag(config=True)

    # Upload, rendering, share links (design 3.5, 3.9, 3.10).
    allow_share_links = Bool(
        True, help="Allow public read-only links (world_readable, /shared/<token>). Set it False on a "
        "JupyterHub single-user server unless the hub wants user servers to answer unauthenticated "
        "requests: then world_readable: true answers 403 (sharing_disabled) and every link 404.",
    ).tag(config=True)
    share_frame_ancestors = Unicode(
        "*", help="The CSP frame-ancestors of /shared pages: who may embed a shared notebook ('*': anyone).",
    ).tag(config=True)
    share_requests_per_minute = Integer(
        120, min=1, help="Requests to /shared links one client address may make per minute; more get 429.",
    ).tag(config=True)
    render_allow_scripts = Bool(
        True, help="Let scripts in rendered notebooks (/api/files/{id}/html, /shared) run, in a sandbox "
        "without access to this server (its origin is opaque): Plotly and Bokeh charts need them.",
    ).tag(config=True)
    render_cache_mb = Float(
        64.0, min=0.0, help="Megabytes of rendered notebook HTML kept in memory (per file version).",
    ).tag(config=True)
    upload_check_notebook_mb = Float(
        64.0, min=0.0, help="Uploaded .ipynb files up to this many megabytes are parsed and validated; "
        "larger ones are stored unchecked (parsing takes several times a file's size in memory).",
    ).tag(config=True)
    upload_writeback_mb = Float(
        32.0, min=0.0, help="Megabytes of an upload after which the disk is told to start writing them "
        "(sync_file_range), so it writes while the rest arrives and the final fsync has little left; 0: off.",
    ).tag(config=True)
    upload_flush_mb = Float(
        64.0, min=0.0, help="Megabytes of an upload's early writeback (upload_writeback_mb) after which the "
        "disk's cache is also flushed (fdatasync) in the background, so the final fsync has only the rest "
        "to flush; 0: off.",
    ).tag(config=True)
    upload_splice = Bool(
        True, help="Move a Content-Length upload body from the socket into its file with splice(2), never "
        "through Python buffers (Linux, plain TCP; TLS and chunked bodies are read as before).",
    ).tag(config=True)

    def __init__(self, contents_manager: FileContentsManager, owner: str, database: Database | None = None,
                 store_owner: str | None = None, **kwargs: Any) -> None:
        """``owner`` is the user name the File resource reports (Plotly's ``owner``); ``store_owner``
        (default: ``owner``) the ``owner`` of this server's rows in the metadata store, which with
        PostgreSQL is the database role that row-level security compares with ``current_user``."""
        super().__init__(**kwargs)
        self.contents_manager = contents_manager
        self.owner = owner
        self._store_owner = store_owner or owner
        #: The PostgreSQL database shared by replicas (design 4.6) when configured; else SQLite.
        self.database = database if database is not None and database.configured else None
        self.store: MetadataStore | None = None
        self._background: list[asyncio.Task[None]] = []
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="nbserver-files")
        self._reconcile_lock = asyncio.Lock()
        # A rename (update) and a trash of one item take turns: either sees the other's result whole.
        self._moving = asyncio.Lock()
        self._trash_batches = GroupCommit[tuple[FileRecord, str], FileRecord](self._trash_batch, turn=self._moving)
        self.shares = ShareLinks(self)
        self.relations = FileRelations(self)
        self.renderer = NotebookRenderer(self)

    @property
    def real_root(self) -> str:
        return self.contents_manager.real_root

    @property
    def metadata_owner(self) -> str:
        """The ``owner`` of this server's rows in the metadata store (and the search index)."""
        return self._store_owner

    @functools.cached_property
    def _crawler(self) -> TreeCrawler:
        return TreeCrawler(self.real_root, self.visible_name)

    # -- life cycle ----------------------------------------------------------------------

    def database_location(self, create: bool = True) -> tuple[str, bool]:
        """(database path, whether WAL may be used): section 4.1's rule. ``create`` makes its folder."""
        if self.db_path:
            return self.db_path, not is_network_filesystem(os.path.dirname(os.path.abspath(self.db_path)))
        root = self.real_root
        if os.access(root, os.W_OK) and not is_network_filesystem(root):
            folder = trashcan.make_state_dir(root) if create else trashcan.state_dir(root)
            return os.path.join(folder, "meta.sqlite"), True
        digest = hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        folder = os.path.join(jupyter_data_dir(), "nbserver")
        if create:
            os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f"meta-{digest}.sqlite"), not is_network_filesystem(folder)

    def start(self) -> None:
        """Hook into the contents manager; with a database from an earlier run, open it and finish
        what killed servers left half done. Blocking; before serving.

        A root whose ids were never used gets no state folder: the database is made on first
        use. One that cannot be opened leaves ids and the trash unavailable (503, logged; opening
        is tried again on later use): the contents API works as without them, except that
        ``delete_to_trash`` deletes answer 503 rather than deleting for good what the user meant to
        be able to restore.
        """
        self.contents_manager.add_rename_listener(self.path_renamed)
        self.contents_manager.add_delete_listener(self.path_deleted)
        self.contents_manager.add_save_listener(self.path_saved)
        self.contents_manager.trasher = self.trash_path_quietly
        if self._has_ids() or trashcan.existing_trash_dirs(self.real_root):
            try:
                self._executor.submit(self._open_store).result()
            except ServiceUnavailable:
                pass  # logged; tried again on first use

    def _open_store(self) -> MetadataStore:
        """The store, opened (and start-up recovery run) on first need; ServiceUnavailable if it cannot be."""
        if self.store is not None:
            return self.store
        try:
            store = self._new_store()
            store.open()
        except store_errors() + (OSError, RuntimeError) as exc:
            self.log.error("File ids and the trash are unavailable: the metadata database cannot be opened (%s)", exc)
            raise ServiceUnavailable("File ids and the trash are unavailable (see the server log).") from None
        self.store = store
        try:
            self._recover()
        except store_errors() + (OSError,) as exc:
            self.log.error("Recovering unfinished trash operations failed: %s", exc)
        return store

    def _new_store(self) -> MetadataStore:
        """PostgreSQL's store when a database is configured, else SQLite's (section 4.1's location)."""
        if self.database is not None:
            from nbserver.services.files.pg_store import PostgresMetadataStore

            return PostgresMetadataStore(self.database, self.metadata_owner)
        path, wal = self.database_location()
        if not wal:
            self.log.warning("The file id database is on a network filesystem: SQLite runs without WAL")
        return SQLiteMetadataStore(path, self.metadata_owner, self.busy_timeout, wal)

    def start_background(self) -> None:
        """Start the retention sweep and the reconciler on the running loop: each now, then every interval."""
        if self._background:
            return
        loop = asyncio.get_running_loop()
        self._background = [loop.create_task(self._every("trash_sweep_interval", self._sweep_job)),
                            loop.create_task(self._every("reconcile_interval", self._reconcile_job))]

    async def _every(self, interval_trait: str, job: Callable[[], Awaitable[bool]]) -> None:
        """Run ``job`` now and then every interval; sooner (RESUME_PAUSE) while it says it is not done."""
        while True:
            done = True
            try:
                if self._has_ids():  # a root whose ids were never used has nothing to sweep or follow
                    done = await job()
            except Exception:  # a failed run must not end the runs
                self.log.exception("Background file services job %s failed", job.__name__)
            interval = float(getattr(self, interval_trait))
            await asyncio.sleep(interval if done else min(interval, RESUME_PAUSE))

    async def _sweep_job(self) -> bool:
        if await self._call(lambda store: store.claim_job("trash sweep")):
            await self.sweep_trash()
        return True

    async def _reconcile_job(self) -> bool:
        if not await self._call(lambda store: store.claim_job("reconciler")):
            return True  # another replica crawls this root
        report = await self.reconcile()
        return report.crawl is None or report.crawl.complete

    async def sweep_trash(self) -> int:
        """Purge trash items older than ``trash_retention_days`` (0: none), then the oldest ones past
        ``trash_max_bytes`` (0: no limit); how many were purged."""
        days = self.trash_retention_days

        def sweep(store: MetadataStore) -> int:
            count = 0
            for trash in store.trash_older_than(iso_timestamp(time.time() - days * 86400)) if days else ():
                self._purge_entry(store, trash)
                count += 1
            if count:
                self.log.info("Purged %d trash items older than %g days", count, self.trash_retention_days)
            return count + self._keep_under_limit(store, None)
        return await self._call(self._with_os_errors(sweep, "empty the trash", None))

    def _keep_under_limit(self, store: MetadataStore, keep: str | None) -> int:
        """Purge the oldest trash items (never ``keep``, the one just trashed) until the trash
        holds at most ``trash_max_bytes``; how many were purged."""
        limit = self.trash_max_bytes
        if not limit:
            return 0
        _, total = store.trash_totals()
        count = 0
        for trash in store.trash_older_than(now()):
            if total <= limit:
                break
            if trash.id == keep:
                continue
            self._purge_entry(store, trash)
            total -= trash.size or 0
            count += 1
        if count:
            self.log.info("Purged the %d oldest trash items to keep the trash under %d bytes", count, limit)
        return count

    async def stop_background(self) -> None:
        for task in self._background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._background = []

    def close(self) -> None:
        if self.store is not None:
            self._executor.submit(self.store.close).result()
            self.store = None
        self._executor.shutdown(wait=True)

    async def _call(self, func: Callable[..., T], *args: Any) -> T:
        """Run ``func(store, *args)`` on the writer thread; 503 when the store is unavailable."""
        def run() -> T:
            return func(self._open_store(), *args)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, run)
        except store_errors() as exc:
            raise ServiceUnavailable("The file id database is unavailable; try again.",
                                     log_detail=f"{type(exc).__name__}: {exc}") from exc

    def _pause(self, step: str) -> None:
        if self.debug_pause_at == step:
            self.log.warning("debug_pause_at: stopped at %s", step)
            threading.Event().wait()

    # -- listeners of the contents manager (never fail the operation) ---------------------

    def _has_ids(self) -> bool:
        """Whether any id was ever given here (else a listener has nothing to update, and makes no database).
        With PostgreSQL, other replicas may have given ids: always."""
        return self.store is not None or self.database is not None or os.path.exists(self.database_location(create=False)[0])

    async def path_renamed(self, old_path: str, new_path: str) -> None:
        if self._has_ids():
            await self._call(lambda store: store.move(old_path, new_path))

    async def path_deleted(self, path: str) -> None:
        if self._has_ids():
            await self._call(lambda store: store.forget(path))

    async def path_saved(self, path: str) -> None:
        """A save, an upload or a checkpoint's restore wrote ``path``: its id's version goes up."""
        if self._has_ids():
            path = fileio.normalize_api_path(path)
            await self._call(lambda store: store.content_changed(path))

    # -- ids -----------------------------------------------------------------------------

    def _on_disk(self, path: str) -> tuple[str, os.stat_result]:
        """(``notebook``/``file``/``directory``, stat) of what a client sees at ``path``; NotFound if nothing."""
        try:
            os_path = self.contents_manager.visible_os_path(path)
            info = os.stat(os_path)
        except (InvalidInput, OSError):
            raise NotFound(f"No such file or directory: {path}") from None
        if stat.S_ISDIR(info.st_mode):
            return "directory", info
        if stat.S_ISREG(info.st_mode):
            return default_type_for(path), info
        raise NotFound(f"No such file or directory: {path}")

    def _record_for_path(self, store: MetadataStore, path: str) -> FileRecord:
        path = fileio.normalize_api_path(path)
        kind, info = self._on_disk(path)
        return store.assign(path, kind, (info.st_dev, info.st_ino))

    async def record_for_path(self, path: str) -> FileRecord:
        """The id record of what is at ``path``, assigned now if it has none; NotFound if nothing."""
        return await self._call(self._record_for_path, path)

    async def exists(self, path: str) -> bool:
        try:
            await self.record_for_path(path)
        except NotFound:
            return False
        return True

    def _resolve(self, store: MetadataStore, file_id: str) -> FileRecord:
        if file_id == ROOT_ALIAS:
            return self._record_for_path(store, "")
        canonical = canonical_id(file_id)
        record = store.get(canonical) if canonical else None
        if record is None or record.state == "missing":
            raise NotFound("No such file id.", code="not_found")
        return record

    async def resolve(self, file_id: str) -> FileRecord:
        """The record of ``file_id`` (or ``root``); NotFound (``code: not_found``) for unknown,
        malformed and purged ids. A live id whose path is gone sets off a reconciliation (it may
        have been moved outside the server); NotFound if it is still gone after it."""
        return await self._resolve_present(file_id, settle=True)

    async def _resolve_present(self, file_id: str, settle: bool) -> FileRecord:
        """resolve(); ``settle``: a live id whose path is gone first waits for a trash or rename
        under way (it holds ``_moving``) and looks again. Callers holding ``_moving`` pass False."""
        record = await self._call(self._resolve, file_id)
        if settle and record.state == "live" and not await self._present(record.path):
            async with self._moving:
                record = await self._call(self._resolve, file_id)
        if record.state == "live" and not await self._present(record.path):
            await self.reconcile(full=True)
            record = await self._call(self._resolve, file_id)
            if record.state != "live" or not await self._present(record.path):
                raise NotFound("No such file id.", code="not_found")
        return record

    async def _present(self, path: str) -> bool:
        try:
            await asyncio.get_running_loop().run_in_executor(None, self._on_disk, path)
        except NotFound:
            return False
        return True

    # -- the reconciler (section 4.4) -----------------------------------------------------

    def visible_name(self, name: str) -> bool:
        """Whether a client sees an entry of this name (the crawl's filter)."""
        return fileio.is_visible_name(name, bool(self.contents_manager.allow_hidden))

    async def reconcile(self, full: bool = False) -> CrawlReport:
        """Bring the ids up to date with changes made outside the server: one crawl pass of at most
        ``reconcile_stat_budget`` stat calls; when it ends a cycle, one transaction applies it.

        ``full`` (an id's path vanished): a fresh cycle run to its end, so that the answer reflects
        the disk now. The counts of the pass (``complete``, ``stat_calls``...) ride on the report.
        """
        async with self._reconcile_lock:
            loop = asyncio.get_running_loop()
            if full:
                self._crawler.restart()
            budget = 0 if full else self.reconcile_stat_budget
            crawl, seen = await loop.run_in_executor(None, self._crawler.run_pass, budget)
            if seen is None:
                return CrawlReport(0, 0, 0, 0, crawl)
            cutoff = iso_timestamp(time.time() - self.missing_retention_days * 86400)
            report: CrawlReport = await self._call(lambda store: store.apply_crawl(seen, cutoff))
        if report.moved or report.missing or report.revived or report.forgotten:
            self.log.info("Reconciled file ids: %d moved, %d missing, %d back, %d forgotten",
                          report.moved, report.missing, report.revived, report.forgotten)
        return dataclasses.replace(report, crawl=crawl)

    async def ids_for(self, items: list[tuple[str, str]]) -> dict[str, str]:
        """path -> id for ``(path, type)`` pairs of a contents model and its children; {} degraded."""
        try:
            return await self._call(lambda store: store.assign_many(items))
        except ServiceUnavailable as exc:
            self.log.error("File ids left out of a listing: %s", exc.log_detail or exc.message)
            return {}

    async def add_file_ids(self, model: dict[str, Any]) -> None:
        """``?file_id=1``: add ``file_id`` to a contents model and to each child it lists (None when degraded)."""
        children = model.get("content") if model.get("type") == "directory" else None
        entries = [model, *(children if isinstance(children, list) else [])]
        ids = await self.ids_for([(entry["path"], entry["type"]) for entry in entries])
        for entry in entries:
            entry["file_id"] = ids.get(entry["path"])

    def _parent_id(self, store: MetadataStore, path: str) -> str | None:
        """The id of the folder holding ``path`` (``root`` at the top; None when it is gone)."""
        if not path:
            return None
        parent = posixpath.dirname(path)
        if not parent:
            return ROOT_ALIAS
        try:
            return self._record_for_path(store, parent).id
        except NotFound:
            return None

    async def file_model(self, record: FileRecord, base_url: str, user: str | None = None) -> dict[str, Any]:
        """The File resource of design section 3.3; ``starred`` is ``user``'s (default: the owner's)."""
        trash = await self.trash_of(record)
        share_url, starred = await self._call(self._links_of, record, base_url, user or self.owner)
        parent = await self._call(self._parent_id, record.path)
        if trash is None:
            try:
                contents = await self.contents_manager.get(record.path, content=False)
            except NotFound:
                current = await self._call(self._current, record)
                if current.state == "live":
                    raise
                return await self.file_model(current, base_url, user)  # trashed since it was resolved
        else:
            contents = await self._trashed_model(record, trash)
        urls = {
            "self": url_path_join(base_url, "api/files", record.id),
            "contents": url_path_join(base_url, "api/contents", url_escape_path(record.path)),
            "parent": url_path_join(base_url, "api/files", parent) if parent else None,
        }
        explicitly = trash is not None and trash.file_id == record.id
        return {
            "id": record.id,
            "name": posixpath.basename(record.path),
            "path": record.path,
            "type": record.kind,
            "mimetype": contents.get("mimetype"),
            "size": contents.get("size") if record.kind != "directory" else None,
            "created": record.created,
            "last_modified": contents.get("last_modified"),
            "parent": parent,
            "parent_path": posixpath.dirname(record.path),
            "owner": self.owner,
            "title": None,
            "world_readable": record.world_readable,
            "share_url": share_url,
            "starred": starred,
            "trashed": trash is not None,
            "explicitly_trashed": explicitly,
            "trashed_at": trash.trashed_at if trash is not None else None,
            "current_user_permission": "owner",
            "version": record.version,
            "api_urls": urls,
            "web_url": url_path_join(base_url, "notebooks" if record.kind == "notebook" else "tree",
                                     url_escape_path(record.path)),
        }

    def _links_of(self, store: MetadataStore, record: FileRecord, base_url: str, user: str) -> tuple[str | None, bool]:
        return self.shares.share_url(store, record, base_url), store.is_starred(user, record.id)

    async def add_edge(self, source_id_or_url: str, target_id: str, relation: str) -> None:
        """Record that file ``target_id`` came from ``source_id_or_url`` (a file id, or an http(s) URL)
        by ``relation`` (``copy`` or ``import``): it shows in ``GET /api/files/{target}/sources``.
        ``POST /api/files/{id}/copy`` records ``copy`` edges; an import records ``import`` edges from its URL."""
        await self._call(lambda store: store.add_edge(source_id_or_url, target_id, relation))

    async def _trashed_model(self, record: FileRecord, trash: TrashRecord) -> dict[str, Any]:
        """``size``, ``last_modified`` and ``mimetype`` of a trashed item where it is kept ({}: gone)."""
        return await asyncio.get_running_loop().run_in_executor(None, self._trashed_contents, record, trash)

    def new_upload(self, folder: str, name: str, on_conflict: str) -> StagedUpload:
        """The staging of one raw upload (``POST /api/files/upload``) of ``name`` into ``folder``."""
        return StagedUpload(self.contents_manager, folder, name, on_conflict,
                            int(self.upload_check_notebook_mb * 1024 * 1024),
                            int(self.upload_writeback_mb * 1024 * 1024), int(self.upload_flush_mb * 1024 * 1024))

    def visible_path(self, path: str) -> None:
        """NotFound or InvalidInput unless a client may see ``path`` (hidden names, outside the root)."""
        self.contents_manager.visible_os_path(path)

    def _trashed_contents(self, record: FileRecord, trash: TrashRecord) -> dict[str, Any]:
        location = self.stored_location(record, trash)
        try:
            info = os.lstat(location)
        except OSError:
            return {}
        return {"size": info.st_size, "last_modified": iso_timestamp(info.st_mtime),
                "mimetype": None if record.kind != "file" else guess_mimetype(record.path)}

    async def trash_of(self, record: FileRecord) -> TrashRecord | None:
        if record.trash_id is None:
            return None
        trash_id = record.trash_id
        return await self._call(lambda store: store.trash_entry(trash_id))

    def stored_location(self, record: FileRecord, trash: TrashRecord) -> str:
        """The OS path of a trashed item (or of a child inside a trashed folder)."""
        return self._stored_os_path(record.path, trash)

    def _stored_os_path(self, path: str, trash: TrashRecord) -> str:
        """Where the item trashed from ``path`` (the entry's own item or a child of it) is now."""
        entry = os.path.join(self.real_root, trash.stored_at)
        inside = path[len(trash.original_path):].lstrip("/")
        item = os.path.join(entry, posixpath.basename(trash.original_path))
        return os.path.join(item, inside) if inside else item

    # -- writable metadata (section 3.4) --------------------------------------------------

    async def update(self, record: FileRecord, new_path: str, world_readable: bool | None,
                     if_match: str | None) -> FileRecord:
        """Move ``record`` to ``new_path`` (one contents rename, so sessions and checkpoints follow)
        and set ``world_readable``; the updated record.

        PreconditionFailed for a stale ``If-Match``; Conflict ``name_conflict`` (with
        ``conflict_path``) when the target is taken, ``trashed`` for any change but
        ``world_readable: false`` to a trashed item. Nothing changes when it refuses.
        """
        async with self._moving:
            # As the trash does it: the record as it is now, not as it was when the request resolved it.
            record = await self._call(self._current, record)
            return await self._update(record, new_path, world_readable, if_match)

    async def _update(self, record: FileRecord, new_path: str, world_readable: bool | None,
                      if_match: str | None) -> FileRecord:
        if if_match is not None and if_match.strip() not in ("*", f'"{record.id}-{record.version}"'):
            raise PreconditionFailed("The file changed since the If-Match version; fetch it again.",
                                     code="precondition_failed")
        moving = new_path != record.path
        if world_readable and record.state == "live":
            self.shares.check_allowed(record)  # before anything moves
        if record.state != "live" and (moving or world_readable):
            raise Conflict("A trashed item cannot be changed; restore it first.", code="trashed")
        if moving:
            if await self.contents_manager.exists(new_path) or await self._taken(new_path):
                raise Conflict(f"Something is already at {new_path}.", code="name_conflict", conflict_path=new_path)
            try:
                await self.contents_manager.rename(record.path, new_path)
            except Conflict:
                raise Conflict(f"Something is already at {new_path}.", code="name_conflict",
                               conflict_path=new_path) from None
        if world_readable is not None:
            await self.shares.set_world_readable(record, world_readable, self.owner)
        return await self._resolve_present(record.id, settle=False)

    async def _taken(self, path: str) -> bool:
        """Whether ``path`` exists on disk, hidden names included (a rename must not replace one)."""
        os_path = self.contents_manager.os_path(path)
        return await asyncio.get_running_loop().run_in_executor(None, os.path.lexists, os_path)

    # -- trash ---------------------------------------------------------------------------

    def _file_checkpoints(self) -> FileCheckpoints | None:
        checkpoints = self.contents_manager.checkpoints
        return checkpoints if isinstance(checkpoints, FileCheckpoints) else None

    def _checkpoint_files(self, os_path: str) -> list[str]:
        """The checkpoint places (latest, history folder) of the file at ``os_path`` that exist."""
        checkpoints = self._file_checkpoints()
        return [] if checkpoints is None else checkpoints.checkpoint_files(os_path)

    @staticmethod
    def _current(store: MetadataStore, record: FileRecord) -> FileRecord:
        """``record`` as the store has it now, on the writer thread: a request resolves its id before
        its turn comes, and another request on the same id may have trashed, restored or purged it
        in between (design 3.6: trash and restore are idempotent, a second purge is 404)."""
        current = store.get(record.id)
        if current is None or current.state == "missing":
            raise NotFound("No such file id.", code="not_found")
        return current

    def _trash_begin(self, store: MetadataStore, record: FileRecord, by: str) -> FileRecord | _TrashMove:
        """The checks of a move to the trash, its intent, and its entry with the sidecar written
        (not yet fsynced); the record itself when it is not live (trash is idempotent)."""
        record = self._current(store, record)
        if record.state != "live":
            return record  # idempotent: the same record, the same trashed_at
        path = record.path
        if not path:
            raise InvalidInput("The root folder cannot be trashed.")
        os_path = self.contents_manager.visible_os_path(path)
        if not os.path.lexists(os_path):
            raise NotFound(f"No such file or directory: {path}")
        if os.path.ismount(os_path):
            raise Conflict(f"Cannot move {path} to the trash: it is in use (a mount point).", code="mount_point")
        parent = os.path.dirname(os_path)
        if not os.access(parent, os.W_OK):  # it could not be deleted either: say why, not "no trash"
            read_only = os.statvfs(parent).f_flag & os.ST_RDONLY
            raise OSError(errno.EROFS if read_only else errno.EACCES, "cannot change this folder", parent)
        try:
            folder = trashcan.trash_dir_for(self.real_root, os_path)
        except trashcan.NoTrashHere as exc:
            raise Conflict("This item's filesystem has no trash folder: it can only be deleted permanently "
                           "(permanent_delete?confirm=no_trash).", code="no_trash_here",
                           log_detail=str(exc)) from None
        size = trashcan.tree_size(os_path)
        if self.trash_max_bytes and size > self.trash_max_bytes:
            raise Conflict(f"This item ({size} bytes) is larger than the whole trash may hold; it can only be "
                           "deleted permanently (permanent_delete?confirm=no_trash).",
                           code="too_large_for_trash", limit=self.trash_max_bytes)
        trash_id = uuid.uuid4().hex
        entry = os.path.join(folder, trash_id)
        name = posixpath.basename(path)
        checkpoints = [] if os.path.isdir(os_path) else self._checkpoint_files(os_path)
        trashed = TrashRecord(trash_id, record.id, path, os.path.relpath(entry, self.real_root), now(), by,
                              size, "pending")
        intent = store.begin("trash", {"trash_id": trash_id, "path": path, "name": name,
                                       "checkpoints": checkpoints}, trashed)
        move = _TrashMove(record, os_path, entry, name, checkpoints, intent, trash_id)
        self._pause("trash:intent")
        try:
            os.mkdir(entry)
            trashcan.write_sidecar(entry, {
                "trash_id": trash_id, "file_id": record.id, "original_path": path, "type": record.kind,
                "size": trashed.size, "trashed_at": trashed.trashed_at, "trashed_by": by,
                "checkpoints": [os.path.basename(place) for place in checkpoints],
            }, durable=False)
        except OSError as exc:
            raise self._trash_undone(store, move, exc) from exc
        return move

    def _trash_undone(self, store: MetadataStore, move: _TrashMove, exc: OSError) -> Exception:
        """Roll back a move to the trash that failed before its item moved; the error to raise."""
        trashcan.remove_tree(move.entry)
        store.drop_intent(move.intent, move.trash_id)
        if exc.errno == errno.EXDEV:  # never a copy, never a silent permanent delete
            return Conflict("This item cannot be moved to the trash from here.", code="no_trash_here")
        return error_for_os_error(exc, "move to the trash", move.record.path)

    def _trash_many(self, store: MetadataStore, requests: list[tuple[FileRecord, str]]
                    ) -> list[FileRecord | BaseException]:
        """Move several items to the trash, in rounds of items apart from each other: a request
        for an item that another of the round is, holds or lies in waits for the next round, and
        then sees that one's result (as if they had come one after the other)."""
        outcomes: dict[int, FileRecord | BaseException] = {}
        remaining = list(range(len(requests)))
        while remaining:
            round_: list[int] = []
            later: list[int] = []
            paths: list[str] = []
            for index in remaining:
                path = self._current_path(store, requests[index][0])
                if path is not None and any(_path_overlaps(path, other) for other in paths):
                    later.append(index)
                else:
                    round_.append(index)
                    paths += [] if path is None else [path]
            done = self._trash_round(store, [requests[index] for index in round_])
            outcomes.update(zip(round_, done))
            remaining = later
        return [outcomes[index] for index in range(len(requests))]

    def _current_path(self, store: MetadataStore, record: FileRecord) -> str | None:
        """Where the live ``record`` is now; None when it is not live (or not known)."""
        current = store.get(record.id)
        return current.path if current is not None and current.state == "live" else None

    def _trash_round(self, store: MetadataStore, requests: list[tuple[FileRecord, str]]
                     ) -> list[FileRecord | BaseException]:
        """Move items apart from each other to the trash, each as safely as one alone, with their
        fsyncs grouped (group commit): every sidecar is durable before any item moves, every
        move's folders before any is recorded as done. One item's error is its own outcome."""
        outcomes: list[FileRecord | BaseException] = []
        moves: dict[int, _TrashMove] = {}
        for index, (record, by) in enumerate(requests):
            begun: FileRecord | _TrashMove | Exception
            try:
                begun = self._trash_begin(store, record, by)
            except Exception as exc:
                begun = self._trash_error(exc, record.path)
            outcomes.append(begun if not isinstance(begun, _TrashMove) else record)
            if isinstance(begun, _TrashMove):
                moves[index] = begun
        for index, move in list(moves.items()):
            try:
                trashcan.sync_sidecar(move.entry)
            except OSError as exc:
                outcomes[index] = self._trash_undone(store, move, exc)
                del moves[index]
        self._pause("trash:sidecar")
        for index, move in list(moves.items()):
            try:
                try:
                    os.rename(move.os_path, os.path.join(move.entry, move.name))
                except OSError as exc:
                    raise self._trash_undone(store, move, exc) from exc
                self._move_checkpoints_in(move.checkpoints, move.entry)
            except Exception as exc:  # after the rename the intent stays: start-up recovery finishes it
                outcomes[index] = self._trash_error(exc, move.record.path)
                del moves[index]
        folders = [os.path.dirname(move.os_path) for move in moves.values()] + [move.entry for move in moves.values()]
        for folder in dict.fromkeys(folders):
            fileio.fsync_directory(folder)
        self._pause("trash:renamed")
        for index, move in moves.items():
            try:
                store.finish_trash(move.intent, move.trash_id, move.record.path)
            except Exception as exc:
                outcomes[index] = self._trash_error(exc, move.record.path)
        for index, move in moves.items():
            if isinstance(outcomes[index], BaseException):
                continue
            try:
                self._keep_under_limit(store, move.trash_id)
            except store_errors() + (OSError,) as exc:  # the item is in the trash: the sweep tries again
                self.log.error("Could not purge old trash items past trash_max_bytes: %s", exc)
            try:
                result = store.get(move.record.id)
                assert result is not None
                outcomes[index] = result
            except Exception as exc:
                outcomes[index] = self._trash_error(exc, move.record.path)
        return outcomes

    @staticmethod
    def _trash_error(exc: Exception, path: str) -> Exception:
        """The error one request of a batch gets, as :meth:`_call` and ``_with_os_errors`` map it alone."""
        if isinstance(exc, OSError):
            return error_for_os_error(exc, "move to the trash", path)
        if isinstance(exc, store_errors()):
            return ServiceUnavailable("The file id database is unavailable; try again.",
                                      log_detail=f"{type(exc).__name__}: {exc}")
        return exc

    @staticmethod
    def _move_checkpoints_in(checkpoints: list[str], entry: str) -> None:
        """Move the checkpoint places (the latest's file, the history folder) into a trash entry."""
        for place in checkpoints:
            if os.path.lexists(place):
                os.makedirs(os.path.join(entry, trashcan.CHECKPOINTS), exist_ok=True)
                os.replace(place, os.path.join(entry, trashcan.CHECKPOINTS, os.path.basename(place)))

    async def trash(self, record: FileRecord, by: str) -> FileRecord:
        """Move ``record``'s item (a folder with its tree and checkpoints) into the trash; idempotent.

        InvalidInput for the root; Conflict ``no_trash_here`` where no trash folder can be made.
        """
        return await self._trash_batches.submit((record, by))

    async def _trash_batch(self, requests: list[tuple[FileRecord, str]]) -> list[FileRecord | BaseException]:
        """One group commit of moves to the trash (see groupcommit.py), run holding ``_moving``."""
        return await self._call(self._trash_many, requests)

    async def trash_path(self, path: str, by: str) -> FileRecord:
        path = fileio.normalize_api_path(path)
        if not path:
            raise InvalidInput("The root folder cannot be trashed.")
        try:
            record = await self.record_for_path(path)
        except NotFound:
            # The same request again (POST /api/trash is idempotent): the item trashed from there.
            def trashed_from(store: MetadataStore) -> FileRecord:
                trash = store.latest_trash_of(path)
                found = store.get(trash.file_id) if trash is not None else None
                if trash is None or found is None or found.trash_id != trash.id:
                    raise NotFound(f"No such file or directory: {path}")
                return found
            record = await self._call(trashed_from)
        return await self.trash(record, by)

    async def trash_path_quietly(self, path: str) -> None:
        """``DELETE /api/contents/<path>`` with ``delete_to_trash``: as trash_path, answer unchanged."""
        await self.trash_path(path, self.owner)

    def _with_os_errors(self, func: Callable[..., T], action: str, path: str | None) -> Callable[..., T]:
        def run(*args: Any) -> T:
            try:
                return func(*args)
            except OSError as exc:
                raise error_for_os_error(exc, action, path) from exc
        return run

    # -- restore -------------------------------------------------------------------------

    def _restore(self, store: MetadataStore, record: FileRecord, to_path: str | None, on_conflict: str) -> FileRecord:
        record = self._current(store, record)
        if record.state == "live":
            return record
        trash = store.trash_entry(record.trash_id or "")
        if trash is None:
            raise NotFound("No such file id.", code="not_found")
        target = fileio.normalize_api_path(to_path if to_path is not None else record.path)
        if not target:
            raise InvalidInput("Nothing can be restored to the root folder.")
        target_os = self.contents_manager.writable_os_path(target)
        number = 1
        while os.path.lexists(target_os):
            if on_conflict != "rename":
                raise Conflict(f"Something is at {target} now; restore with on_conflict 'rename' or another path.",
                               code="restore_conflict", conflict_path=target)
            target = restored_name(fileio.normalize_api_path(to_path or record.path), number)
            target_os = self.contents_manager.writable_os_path(target)
            number += 1
        blocker = self._blocking_parent(target)
        if blocker is not None:
            raise Conflict(f"Something that is not a folder is at {blocker}, where {target} needs one.",
                           code="restore_conflict", conflict_path=blocker)
        source = self.stored_location(record, trash)
        whole = record.id == trash.file_id
        intent = store.begin("restore", {"trash_id": trash.id, "path": record.path, "target": target,
                                         "source": os.path.relpath(source, self.real_root), "whole": whole})
        self._pause("restore:intent")
        try:
            os.makedirs(os.path.dirname(target_os), exist_ok=True)  # missing parents come back as plain folders
            trashcan.place_without_overwriting(source, target_os)
        except (FileExistsError, NotADirectoryError):
            store.drop_intent(intent)
            blocker = self._blocking_parent(target) or target
            raise Conflict(f"Something is at {blocker} now.", code="restore_conflict", conflict_path=blocker) from None
        except OSError:
            store.drop_intent(intent)
            raise
        self._pause("restore:moved")
        self._finish_restore(store, intent, record.path, target, trash, whole, target_os)
        result = store.get(record.id)
        assert result is not None
        return result

    def _blocking_parent(self, path: str) -> str | None:
        """The first of ``path``'s parent folders (an API path), from the root down, that exists but is
        not a folder (a file took its place), or None: what blocks a restore to ``path``."""
        parent = posixpath.dirname(path)
        parents = []
        while parent:
            parents.append(parent)
            parent = posixpath.dirname(parent)
        for folder in reversed(parents):
            os_path = self.contents_manager.os_path(folder)
            if not os.path.lexists(os_path):
                return None
            if not os.path.isdir(os_path):
                return folder
        return None

    def _finish_restore(self, store: MetadataStore, intent: str, old_path: str, target: str, trash: TrashRecord,
                        whole: bool, target_os: str) -> None:
        entry = os.path.join(self.real_root, trash.stored_at)
        checkpoints = None if os.path.isdir(target_os) else self._file_checkpoints()
        if checkpoints is not None:
            if whole:  # a trashed file's checkpoints wait in the entry's .checkpoints folder
                kept = os.path.join(entry, trashcan.CHECKPOINTS)
                found = [os.path.join(kept, name) for name in os.listdir(kept)] if os.path.isdir(kept) else []
            else:  # a child of a trashed folder: its checkpoints travelled beside it, inside the folder
                found = checkpoints.checkpoint_files(self._stored_os_path(old_path, trash))
            for place in found:
                destination = checkpoints.checkpoint_destination(place, target_os)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                if not os.path.lexists(destination):
                    os.replace(place, destination)
        store.finish_restore(intent, old_path, target, trash.id, whole)
        if whole:
            trashcan.remove_tree(entry)
        else:
            self._measure_again(store, trash)

    def _measure_again(self, store: MetadataStore, trash: TrashRecord) -> None:
        """Set a trashed folder's size to what it holds now that a child left it (restored or purged)."""
        item = self._stored_os_path(trash.original_path, trash)
        try:
            size = trashcan.tree_size(item)
        except OSError as exc:  # the size is for show and for trash_max_bytes: keep the old one
            self.log.warning("Could not measure the trashed %s again: %s", trash.original_path, exc)
            return
        store.set_trash_size(trash.id, size)

    async def restore(self, record: FileRecord, to_path: str | None = None, on_conflict: str = "fail") -> FileRecord:
        """Bring a trashed item back (same id, same bytes), to ``to_path`` or where it was.

        A live item: unchanged (idempotent). Conflict ``restore_conflict`` with ``conflict_path``
        when the target is taken, unless ``on_conflict`` is ``rename``.
        """
        with_errors = self._with_os_errors(self._restore, "restore", record.path)
        return await self._call(with_errors, record, to_path, on_conflict)

    # -- permanent delete ----------------------------------------------------------------

    def _purge(self, store: MetadataStore, record: FileRecord) -> None:
        record = self._current(store, record)
        trash = store.trash_entry(record.trash_id or "") if record.state == "trashed" else None
        if trash is None:
            raise Conflict("Only trashed items can be deleted permanently; move it to the trash first.",
                           code="not_trashed")
        whole = record.id == trash.file_id
        source = self.stored_location(record, trash)
        entry = os.path.join(self.real_root, trash.stored_at)
        intent = store.begin("purge", {"trash_id": trash.id, "path": record.path,
                                       "source": os.path.relpath(source, self.real_root), "whole": whole})
        self._pause("purge:intent")
        self._remove_stored(entry, source, whole)
        self._pause("purge:removed")
        store.finish_purge(intent, record.path, trash.id, whole)
        if not whole:
            self._measure_again(store, trash)

    def _remove_stored(self, entry: str, source: str, whole: bool) -> None:
        """Delete a whole trash entry, or one child of a trashed folder with the checkpoints beside it."""
        if whole:
            trashcan.remove_tree(entry)
            return
        checkpoints = [] if os.path.isdir(source) else self._checkpoint_files(source)
        trashcan.remove_tree(source)
        for place in checkpoints:
            trashcan.remove_tree(place)

    async def purge(self, record: FileRecord, confirm_no_trash: bool = False) -> None:
        """Delete a trashed item for good. Conflict ``not_trashed`` for a live one, except with
        ``confirm_no_trash`` for an item that cannot go to a trash: on a filesystem where no trash
        can be made (section 3.6) or larger than ``trash_max_bytes``."""
        if record.state == "live" and confirm_no_trash:
            os_path = self.contents_manager.visible_os_path(record.path)
            if not await asyncio.get_running_loop().run_in_executor(None, self._can_be_trashed, os_path):
                manager = self.contents_manager
                await manager.checkpoints.delete_all_checkpoints(record.path)
                await manager.delete_file(record.path)
                await self.path_deleted(record.path)
                return
        await self._call(self._with_os_errors(self._purge, "delete", record.path), record)

    def _can_be_trashed(self, os_path: str) -> bool:
        """Whether the item at ``os_path`` can go to a trash: one can be made on its filesystem and
        it is not larger than ``trash_max_bytes`` (else ``confirm=no_trash`` may delete it for good)."""
        try:
            trashcan.trash_dir_for(self.real_root, os_path)
        except trashcan.NoTrashHere:
            return False
        return not self.trash_max_bytes or trashcan.tree_size(os_path) <= self.trash_max_bytes

    def _purge_entry(self, store: MetadataStore, trash: TrashRecord) -> None:
        """Purge one explicitly trashed item (also one whose file row is gone)."""
        record = store.get(trash.file_id)
        if record is None or record.trash_id != trash.id:
            trashcan.remove_tree(os.path.join(self.real_root, trash.stored_at))
            store.finish_purge(store.begin("purge", {"trash_id": trash.id}), trash.original_path, trash.id, True)
        else:
            self._purge(store, record)

    def _empty(self, store: MetadataStore) -> None:
        while True:
            page = store.trash_page(100, None)
            if not page:
                return
            for trash in page:
                self._purge_entry(store, trash)

    async def empty_trash(self) -> None:
        await self._call(self._with_os_errors(self._empty, "empty the trash", None))

    async def trash_page(self, page_size: int, after: tuple[str, str] | None) -> tuple[list[TrashRecord], int, int]:
        """(page of explicitly trashed items newest first, total count, total bytes)."""
        def page(store: MetadataStore) -> tuple[list[TrashRecord], int, int]:
            return (store.trash_page(page_size, after), *store.trash_totals())
        return await self._call(page)

    # -- start-up recovery (section 4.3) -------------------------------------------------

    def _recover(self) -> None:
        store = self.store
        assert store is not None
        for intent in store.intents():
            args = intent.args
            trash = store.trash_entry(args.get("trash_id", ""))
            try:
                self._recover_one(store, intent.id, intent.op, args, trash)
            except store_errors() + (OSError,) as exc:
                self.log.error("Could not finish the interrupted %s of %s: %s", intent.op, args.get("path"), exc)
        self._adopt_orphans(store)

    def _recover_one(self, store: MetadataStore, intent: str, op: str, args: dict[str, Any],
                     trash: TrashRecord | None) -> None:
        path = args.get("path", "")
        if op == "trash" and trash is not None:
            entry = os.path.join(self.real_root, trash.stored_at)
            if os.path.lexists(os.path.join(entry, args["name"])):
                # Intents written before the history: one "checkpoint" place.
                self._move_checkpoints_in(args.get("checkpoints") or list(filter(None, [args.get("checkpoint")])),
                                          entry)
                store.finish_trash(intent, trash.id, path)
                self.log.info("Finished moving %s to the trash (interrupted)", path)
            else:
                trashcan.remove_tree(entry)
                store.drop_intent(intent, trash.id)
                self.log.info("Rolled back an interrupted move of %s to the trash", path)
        elif op == "restore" and trash is not None:
            source = os.path.join(self.real_root, args["source"])
            if os.path.lexists(source):
                store.drop_intent(intent)
            else:
                target_os = self.contents_manager.os_path(args["target"])
                self._finish_restore(store, intent, path, args["target"], trash, args["whole"], target_os)
        elif op == "purge" and trash is not None:
            whole = bool(args.get("whole"))
            entry = os.path.join(self.real_root, trash.stored_at)
            self._remove_stored(entry, os.path.join(self.real_root, args["source"]), whole)
            store.finish_purge(intent, path, trash.id, whole)
            if not whole:
                self._measure_again(store, trash)
        else:
            store.drop_intent(intent, args.get("trash_id"))

    def _adopt_orphans(self, store: MetadataStore) -> None:
        """Trash entries on disk the database does not know (it was lost): re-recorded from sidecars,
        in the root's trash and in those of filesystems mounted inside the root."""
        for folder, within in trashcan.existing_trash_dirs(self.real_root):
            self._adopt_from(store, folder, within)

    def _adopt_from(self, store: MetadataStore, folder: str, within: str) -> None:
        """Adopt the entries of one trash folder; a mount's trash (``within`` its top folder) holds
        only items from below it, so a sidecar naming another place is not followed."""
        for trash_id in os.listdir(folder):
            entry = os.path.join(folder, trash_id)
            if store.trash_entry(trash_id) is not None:
                continue
            record = trashcan.read_sidecar(entry)
            if (record is None or record.get("trash_id") != trash_id or canonical_id(str(record.get("file_id"))) is None
                    or not trashcan.sidecar_is_sound(record)):
                self.log.warning("Skipped the trash entry %s: its %s is missing or invalid", trash_id, trashcan.SIDECAR)
                continue
            original = str(record.get("original_path", ""))
            if within and not original.startswith(within + "/"):
                continue
            if not os.path.lexists(os.path.join(entry, posixpath.basename(original))):
                continue
            store.adopt_trash(TrashRecord(trash_id, str(record["file_id"]), original,
                                          os.path.relpath(entry, self.real_root), str(record.get("trashed_at")),
                                          str(record.get("trashed_by", "")), record.get("size"), "done"),
                              str(record["type"]))
            self.log.info("Recovered the trash record of %s from its sidecar", original)
