"""The in-memory cache of validated external notebooks, keyed by URL (design section 3.11, step 9).

An entry is a notebook that passed steps 1-6, kept as its JSON, with the validators its source
sent (``ETag``, ``Last-Modified``). Within ``ttl`` seconds of its fetch an entry is used as is;
after that it is *stale*: the next fetch asks the source again with ``If-None-Match`` /
``If-Modified-Since`` (RFC 9110, section 13.1) and a 304 makes it fresh once more. An answer
with ``Cache-Control: no-store`` is never kept (RFC 9111, section 5.2.2.5); ``no-cache`` is
kept but asked about again every time (section 5.2.2.4). At most ``max_entries`` entries and
``max_bytes`` bytes of notebook JSON are held; the least recently used go first.

The cache only saves the fetch: the manager still counts each request against the user's rate
limit and runs the URL and address checks of the SSRF guard before it looks here.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from tornado.httputil import HTTPHeaders


@dataclass
class Validators:
    """What a conditional request for a cached notebook sends, and to which URL (the last hop)."""

    url: str
    etag: str | None
    last_modified: str | None

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass
class CachedNotebook:
    """One validated notebook (its JSON) and when it was last confirmed by its source."""

    notebook_json: bytes
    validators: Validators
    confirmed_at: float
    revalidate_always: bool = False


def cache_directives(headers: HTTPHeaders) -> set[str]:
    """The directive names of every ``Cache-Control`` header, lower-cased (``max-age=0`` -> ``max-age``)."""
    directives = set()
    for value in headers.get_list("Cache-Control"):
        for part in value.split(","):
            name = part.split("=", 1)[0].strip().lower()
            if name:
                directives.add(name)
    return directives


class NotebookCache:
    """URL -> :class:`CachedNotebook`, least recently used first out; ``ttl`` in seconds."""

    def __init__(self, ttl: float, max_entries: int, max_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._entries: OrderedDict[str, CachedNotebook] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, url: str) -> CachedNotebook | None:
        """The entry for ``url``, fresh or stale (see :meth:`is_fresh`); None when there is none."""
        entry = self._entries.get(url)
        if entry is not None:
            self._entries.move_to_end(url)
        return entry

    def is_fresh(self, entry: CachedNotebook) -> bool:
        """Whether ``entry`` may be used without asking its source."""
        return not entry.revalidate_always and self.clock() - entry.confirmed_at < self.ttl

    def store(self, url: str, notebook_json: bytes, final_url: str, headers: HTTPHeaders) -> None:
        """Keep the notebook fetched for ``url`` (from ``final_url``, after redirects), unless its
        answer's ``headers`` forbid it or it alone is larger than the whole cache."""
        self.discard(url)
        directives = cache_directives(headers)
        if "no-store" in directives or len(notebook_json) > self.max_bytes or self.max_entries < 1:
            return
        validators = Validators(final_url, headers.get("ETag"), headers.get("Last-Modified"))
        self._entries[url] = CachedNotebook(notebook_json, validators, self.clock(),
                                            revalidate_always="no-cache" in directives)
        self._bytes += len(notebook_json)
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            _url, oldest = self._entries.popitem(last=False)
            self._bytes -= len(oldest.notebook_json)

    def confirm(self, url: str, entry: CachedNotebook, headers: HTTPHeaders) -> None:
        """A 304 answered for ``entry`` (got from ``url``): fresh again, with any new validators;
        dropped instead when the 304 says ``no-store``."""
        directives = cache_directives(headers)
        if "no-store" in directives:
            if self._entries.get(url) is entry:
                self.discard(url)
            return
        entry.confirmed_at = self.clock()
        entry.revalidate_always = "no-cache" in directives
        entry.validators.etag = headers.get("ETag") or entry.validators.etag
        entry.validators.last_modified = headers.get("Last-Modified") or entry.validators.last_modified

    def discard(self, url: str) -> None:
        entry = self._entries.pop(url, None)
        if entry is not None:
            self._bytes -= len(entry.notebook_json)
