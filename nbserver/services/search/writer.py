"""Bringing the index's documents up to date: :class:`DocumentWriter`, shared by every place that writes.

The search service gets a changed file's id on the server (and stats it there, unless the scan for
outside changes did: a build is all such files); what costs (reading the
file, extracting its text, tokenizing it and writing the index) is done here, either in the index
worker process (:mod:`.worker`, the SQLite index) or on the server's indexer thread (the
PostgreSQL index). A file whose fingerprint (size, mtime, inode) the index already has is not
re-read: a moved one only gets its new path and name.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import asdict, dataclass
from typing import Any, Callable

from nbserver.services.search.extract import Document, Limits, extract_notebook, extract_text_file
from nbserver.services.search.index import FALLBACK, SearchIndex


@dataclass(frozen=True)
class Found:
    """A file the indexer looked at: its API path, type, fingerprint, and the OS path to read ("" for a
    file that is not on a disk: the PostgreSQL contents store's)."""

    path: str
    kind: str
    fingerprint: str
    os_path: str = ""


@dataclass(frozen=True)
class ExtractSettings:
    """What one file may add to the index: text caps (:class:`Limits`) and the largest file read (bytes)."""

    limits: Limits
    max_text_file_bytes: int

    def as_json(self) -> dict[str, Any]:
        return {"limits": asdict(self.limits), "max_text_file_bytes": self.max_text_file_bytes}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ExtractSettings:
        return cls(Limits(**value["limits"]), int(value["max_text_file_bytes"]))


#: One unit of work: a file's id in the metadata store and what the indexer found of it.
Work = tuple[str, Found]


class DocumentWriter:
    """Writes the documents of changed files into ``index``; ``before_each()`` runs before each file
    (the indexer thread gives way to saves there), ``read(item)`` gives a file's bytes (None: gone or
    too large; default: its ``os_path``, at most ``max_text_file_bytes``). Methods block."""

    def __init__(self, index: SearchIndex, settings: ExtractSettings,
                 before_each: Callable[[], None] = lambda: None,
                 read: Callable[[Found], bytes | None] | None = None) -> None:
        self.index = index
        self.settings = settings
        self.before_each = before_each
        self.read = read or self.read_os_path

    def write(self, work: list[Work]) -> int:
        """Index each file, one transaction per file; the number re-extracted (the others were renames)."""
        extracted = 0
        for file_id, item in work:
            self.before_each()
            known = self.index.fingerprint_of(file_id)
            if known is not None and known[0] == item.fingerprint:
                self.index.rename(file_id, item.path, posixpath.basename(item.path))
                continue
            self.index.put(file_id, item.path, item.fingerprint, self.extract(item))
            extracted += 1
        return extracted

    def extract(self, item: Found) -> Document:
        """The document of one file: its name only for the names-only engine, an unreadable file, or
        one over ``max_text_file_bytes``; else its notebook or text content within the limits."""
        name = posixpath.basename(item.path)
        if self.index.engine == FALLBACK:
            return Document(name)
        data = self.read(item)
        if data is None:
            return Document(name)
        if item.kind == "notebook":
            return extract_notebook(name, data, self.settings.limits)
        return extract_text_file(name, data, self.settings.limits)

    def read_os_path(self, item: Found) -> bytes | None:
        """The bytes of the file at ``item.os_path``; None when it is gone, over ``max_text_file_bytes``,
        or a symlink now (it was a regular file when it was statted: a link put in its place since
        is not followed)."""
        try:
            with open(os.open(item.os_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb") as handle:
                data = handle.read(self.settings.max_text_file_bytes + 1)
        except OSError:
            return None
        return data if len(data) <= self.settings.max_text_file_bytes else None
