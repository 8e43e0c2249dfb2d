"""Search over the PostgreSQL contents store: files read from the database, no scan of a disk.

Every save, rename and delete goes through some replica's contents manager, whose listeners
queue it for that replica's indexer, which writes the shared ``search_docs`` table: a notebook
saved through one replica is found by a search on any other. Nothing changes the files outside
the servers, so there is no periodic scan for outside changes; one pass over every file (by
fingerprint: size and SHA-256, so unchanged files are not read again) runs when search starts on
a replica and on ``POST /api/search/reindex``, to index rows written before search was in use.
"""

from __future__ import annotations

from typing import Any

from nbserver.services.contents.manager import default_type_for
from nbserver.services.files.pg_services import PostgresFileServices
from nbserver.services.files.pg_store import PostgresConnection
from nbserver.services.search.manager import SearchService
from nbserver.services.search.scan import ScanCounts, indexable
from nbserver.services.search.writer import Found
from nbserver.timestamps import utc_now_iso


class PostgresSearchService(SearchService):
    """:class:`SearchService` over a :class:`PostgresFileServices` (see the module docstring)."""

    def __init__(self, file_services: PostgresFileServices, **kwargs: Any) -> None:
        super().__init__(file_services, **kwargs)
        assert file_services.database is not None
        #: The indexer thread's connection for reading files (the index has its own).
        self._files = PostgresConnection(file_services.database)

    def close(self) -> None:
        super().close()
        self._files.close()

    def _stat_all(self, paths: list[str]) -> list[Found]:
        """The indexable files at ``paths`` (a folder: the files below it), fingerprinted by
        ``size:sha256``; on the indexer thread."""
        found: dict[str, Found] = {}
        conn = self._files.conn
        for path in filter(indexable, paths):
            rows = conn.execute(
                "SELECT path, size, sha256 FROM contents_files WHERE owner = current_user::text AND NOT is_dir "
                "AND (path = %(path)s OR %(path)s = '' OR (path >= %(path)s || '/' AND path < %(path)s || '0'))",
                {"path": path}).fetchall()
            for file_path, size, sha256 in rows:
                if indexable(file_path):
                    found[file_path] = Found(file_path, default_type_for(file_path), f"{size}:{sha256}")
        return list(found.values())

    def _read_for_index(self, item: Found) -> bytes | None:
        conn = self._files.conn
        with conn.transaction():  # the size and the chunks of one version
            row = conn.execute("SELECT size, blob FROM contents_files WHERE owner = current_user::text "
                               "AND path = %s AND NOT is_dir", (item.path,)).fetchone()
            if row is None or int(row[0]) > self.max_text_file_bytes:
                return None
            chunks = conn.execute("SELECT data FROM contents_chunks WHERE owner = current_user::text AND blob = %s "
                                  "ORDER BY seq", (row[1],), binary=True).fetchall()
        return b"".join(bytes(chunk[0]) for chunk in chunks)

    def _present(self, path: str) -> bool:
        """Hits come from live ``fs_files`` rows, which the database keeps in step with the files."""
        return indexable(path)

    async def _scan_forever(self) -> None:
        """One pass over every file when search starts (nothing changes outside the servers)."""
        try:
            await self.scan()
        except Exception:
            self.log.exception("Indexing every file for search failed")

    async def scan(self, full: bool = False) -> ScanCounts:
        """Queue every file; the indexer re-reads only those whose fingerprint changed."""
        counts = ScanCounts()
        async with self._scan_lock:
            self.enqueue("")
            counts.changed = 1
        self._scanned = True
        self._last_scan = utc_now_iso()
        return counts
