"""``/files/<path>``: a file's raw bytes, streamed, with ranges and caching, unable to run script here.

Built on tornado's StaticFileHandler, which decides the status and headers: Range
(``bytes=a-b``, ``a-``, ``-n``; 206 with Content-Range, 416 past the end), ETag with
If-None-Match and Last-Modified with If-Modified-Since (304), HEAD. The bytes come from the
contents store (``ContentsManager.open_file``), read asynchronously in chunks, so any
store streams and the event loop never waits on a disk (a small file in memory may be read
on it without waiting: ``services/contents/nowait.py``).

Whatever a file holds (HTML, SVG, XML...) is served with ``Content-Security-Policy:
sandbox``, so a browser shows it in an opaque origin with no script and no access
to this server's cookies. PDF is the one exception: Chromium's viewer refuses
sandboxed documents, and it renders PDF in its own origin anyway.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import posixpath
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from tornado import httputil, iostream, web

from nbserver.pages.base import PageBase
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import ContentsManager, guess_mimetype
from nbserver.services.contents.streams import FileStream

SANDBOX_CSP = "sandbox; frame-ancestors 'self'"
UNSANDBOXED_TYPES = ("application/pdf",)


@functools.lru_cache(maxsize=1024)
def content_type_for(name: str) -> str:
    """The Content-Type for a file name: from its extension, UTF-8 for text, bytes otherwise."""
    mimetype = guess_mimetype(name) or "application/octet-stream"
    if mimetype.startswith("text/") or mimetype in ("application/javascript", "application/json",
                                                      "image/svg+xml", "application/xml"):
        return f"{mimetype}; charset=UTF-8"
    return mimetype


@functools.lru_cache(maxsize=1024)
def content_disposition(kind: str, name: str) -> str:
    """An RFC 6266 header value: an ASCII fallback name and the exact UTF-8 one."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class StreamedFileMixin(web.StaticFileHandler):
    """StaticFileHandler's statuses and headers (Range, ETag, HEAD...) over a contents store's open file.

    StaticFileHandler's filesystem hooks are answered by the store's open file, and its
    ``get_content`` only notes which bytes tornado chose to send: :meth:`serve_file` then sends
    them asynchronously, chunk by chunk (tornado would read them on the event loop). Used by
    ``/files`` and by the id and share routes of the file services, with their own access rules.
    """

    file: FileStream
    #: (start, end) of the bytes to send, as tornado passes them to get_content; None: no body.
    body_range: tuple[int | None, int | None] | None = None
    #: The Content-Disposition: "inline" unless ``?download=1``; "attachment" always sends a download.
    disposition = "inline"

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        super().initialize(path="")  # no folder: the contents store resolves and contains paths

    async def serve_file(self, manager: ContentsManager, path: str, include_body: bool) -> None:
        """Answer with the file at API path ``path`` of ``manager`` (NotFound and the like raise)."""
        self.file = await manager.open_file(path)
        try:
            self.apply_if_range()
            await web.StaticFileHandler.get(self, path, include_body=include_body)
            if self.body_range is not None:
                await self.send_body(*self.body_range)
        finally:
            await self.file.close()

    async def send_body(self, start: int | None, end: int | None) -> None:
        """Write bytes ``start`` to ``end`` (tornado's values: None for the file's start or end)."""
        offset, stop = start or 0, self.file.size if end is None else end
        chunks = self.file.read(offset, stop)
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                self.write(chunk)
                offset += len(chunk)
                if offset >= stop:
                    return  # the last chunk goes out with finish(), in the same write as the headers
                try:
                    await self.flush()
                except iostream.StreamClosedError:
                    return

    def apply_if_range(self) -> None:
        """RFC 9110 13.1.5: a Range sent with If-Range applies only to the version it names.

        Tornado ignores If-Range; without this, resuming a download of a file that changed
        meanwhile would splice two versions. Otherwise the whole file is sent (200).
        """
        validator = self.request.headers.get("If-Range")
        if validator is None or "Range" not in self.request.headers:
            return
        if validator.startswith('"'):
            matches = validator == self.file.etag
        else:
            date = email.utils.parsedate_to_datetime(validator) if _is_http_date(validator) else None
            matches = date is not None and date.timestamp() == int(self.file.mtime)
        if not matches:
            del self.request.headers["Range"]

    def set_headers(self) -> None:
        """StaticFileHandler's headers, with the date and type strings kept per file (formatting
        them was a tenth of a small file's GET); no Expires (``get_cache_time`` is 0)."""
        self.set_header("Accept-Ranges", "bytes")
        self.set_etag_header()
        self.set_header("Last-Modified", http_date(int(self.file.mtime)))
        self.set_header("Content-Type", self.get_content_type())
        self.set_extra_headers(self.path)

    # -- StaticFileHandler's hooks, answered by the open file ---------------------------------

    @classmethod
    def get_absolute_path(cls, root: str, path: str) -> str:
        return path  # the API path: the store resolved it when it opened the file

    def validate_absolute_path(self, root: str, absolute_path: str) -> str | None:
        return absolute_path

    def get_content_size(self) -> int:
        return self.file.size

    def get_modified_time(self) -> datetime | None:
        return modified_datetime(int(self.file.mtime))

    def compute_etag(self) -> str | None:
        return self.file.etag

    def get_content_type(self) -> str:
        return content_type_for(posixpath.basename(self.path))

    def get_cache_time(self, path: str, modified: datetime | None, mime_type: str) -> int:
        return 0

    def get_content(self, abspath: str, start: int | None = None,  # type: ignore[override]
                    end: int | None = None) -> list[bytes]:
        self.body_range = (start, end)
        return []

    def set_extra_headers(self, path: str) -> None:
        name = posixpath.basename(path)
        if not self.get_content_type().startswith(UNSANDBOXED_TYPES):
            self.set_header("Content-Security-Policy", SANDBOX_CSP)
        download = self.disposition == "attachment" or self.get_query_argument("download", default="0") not in ("0", "")
        self.set_header("Content-Disposition", content_disposition("attachment" if download else "inline", name))
        # Revalidated on every use (the ETag makes that cheap); shared caches must not keep it.
        self.set_header("Cache-Control", "private, no-cache")


class FilesHandler(PageBase, StreamedFileMixin):
    """Serve the file at an API path; ``?download=1`` makes it an attachment."""

    auth_resource = "contents"

    def admit_request(self) -> None:
        # A file is served sandboxed (no script of this server runs in it), so it needs no _xsrf
        # cookie: making one for every file was a tenth of the CPU time of a small file's GET.
        self.admit()

    async def get(self, path: str, include_body: bool = True) -> None:
        await self.serve_file(self.contents_manager, normalize_api_path(path), include_body)


@functools.lru_cache(maxsize=1024)
def http_date(seconds: int) -> str:
    """An HTTP date (RFC 9110 5.6.7) for POSIX ``seconds``, as tornado formats it."""
    return httputil.format_timestamp(seconds)


@functools.lru_cache(maxsize=1024)
def modified_datetime(seconds: int) -> datetime:
    """The aware UTC datetime of POSIX ``seconds``, which tornado compares with If-Modified-Since."""
    return datetime.fromtimestamp(seconds, timezone.utc)


def _is_http_date(value: str) -> bool:
    return email.utils.parsedate_tz(value) is not None


handlers = [
    (r"/files/(?P<path>.+)", FilesHandler),
]
