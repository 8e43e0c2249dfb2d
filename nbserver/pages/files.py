"""``/files/<path>``: a file's raw bytes, streamed, cached by ETag, unable to run script here.

Whatever a file holds (HTML, SVG, XML...) is served with ``Content-Security-Policy:
sandbox``, so a browser shows it in an opaque origin with no script and no access
to this server's cookies. PDF is the one exception: Chromium's viewer refuses
sandboxed documents, and it renders PDF in its own origin anyway.
"""

from __future__ import annotations

import base64
import email.utils
import os
import posixpath
import stat
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import quote

from nbserver.blocking import run_blocking
from nbserver.errors import NotFound
from nbserver.pages.base import PageBase
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import guess_mimetype

CHUNK_SIZE = 1 << 20  # bytes read and written per step of a streamed file
SANDBOX_CSP = "sandbox; frame-ancestors 'self'"
UNSANDBOXED_TYPES = ("application/pdf",)


def content_type_for(name: str) -> str:
    """The Content-Type for a file name: from its extension, UTF-8 for text, bytes otherwise."""
    mimetype = guess_mimetype(name) or "application/octet-stream"
    if mimetype.startswith("text/") or mimetype in ("application/javascript", "application/json",
                                                      "image/svg+xml", "application/xml"):
        return f"{mimetype}; charset=UTF-8"
    return mimetype


def content_disposition(kind: str, name: str) -> str:
    """An RFC 6266 header value: an ASCII fallback name and the exact UTF-8 one."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


class FilesHandler(PageBase):
    """Serve the file at an API path; ``?download=1`` makes it an attachment."""

    def prepare(self) -> None:
        super().prepare()
        self.set_header("X-Content-Type-Options", "nosniff")

    def set_file_headers(self, path: str, size: int, mtime: float, etag: str) -> None:
        name = posixpath.basename(path)
        mimetype = content_type_for(name)
        self.set_header("Content-Type", mimetype)
        if not mimetype.startswith(UNSANDBOXED_TYPES):
            self.set_header("Content-Security-Policy", SANDBOX_CSP)
        if self.get_query_argument("download", default="0") not in ("0", ""):
            self.set_header("Content-Disposition", content_disposition("attachment", name))
        else:
            self.set_header("Content-Disposition", content_disposition("inline", name))
        self.set_header("Last-Modified", email.utils.formatdate(mtime, usegmt=True))
        self.set_header("ETag", etag)
        self.set_header("Cache-Control", "private, no-cache")
        self.set_header("Content-Length", str(size))

    def not_modified(self, etag: str, mtime: float) -> bool:
        """Whether the client's cached copy is current (If-None-Match, else If-Modified-Since)."""
        if_none_match = self.request.headers.get("If-None-Match")
        if if_none_match is not None:
            candidates = [tag.strip() for tag in if_none_match.split(",")]
            return "*" in candidates or etag in candidates or etag.removeprefix("W/") in candidates
        since = self.request.headers.get("If-Modified-Since")
        if since:
            parsed = email.utils.parsedate_to_datetime(since) if _is_http_date(since) else None
            return parsed is not None and int(mtime) <= parsed.timestamp()
        return False

    async def get(self, path: str, include_body: bool = True) -> None:
        path = normalize_api_path(path)
        os_path_of = getattr(self.contents_manager, "visible_os_path", None)
        if os_path_of is not None:
            await self.stream_from_disk(path, os_path_of(path), include_body)
        else:
            await self.send_from_manager(path, include_body)

    async def head(self, path: str) -> None:
        await self.get(path, include_body=False)

    async def stream_from_disk(self, path: str, os_path: str, include_body: bool) -> None:
        """Send a file of the filesystem store in chunks, never whole in memory."""
        try:
            handle: BinaryIO = await run_blocking(open, os_path, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            raise NotFound(f"No such file: {path}") from None
        try:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise NotFound(f"No such file: {path}")
            etag = f'W/"{info.st_size:x}-{info.st_mtime_ns:x}"'
            self.set_file_headers(path, info.st_size, info.st_mtime, etag)
            if self.not_modified(etag, info.st_mtime):
                self.clear_header("Content-Length")
                self.set_status(304)
                self.finish()
                return
            if include_body:
                while chunk := await run_blocking(handle.read, CHUNK_SIZE):
                    self.write(chunk)
                    await self.flush()
            self.finish()
        finally:
            handle.close()

    async def send_from_manager(self, path: str, include_body: bool) -> None:
        """Any other store: the file through the manager's ``get``, as base64."""
        model: dict[str, Any] = await self.contents_manager.get(path, type="file", format="base64")
        raw = base64.b64decode(model["content"])
        mtime = datetime.fromisoformat(model["last_modified"].replace("Z", "+00:00")).timestamp()
        etag = f'W/"{len(raw):x}-{int(mtime * 1e9):x}"'
        self.set_file_headers(path, len(raw), mtime, etag)
        if self.not_modified(etag, mtime):
            self.clear_header("Content-Length")
            self.set_status(304)
            self.finish()
            return
        self.finish(raw if include_body else None)


def _is_http_date(value: str) -> bool:
    return email.utils.parsedate_tz(value) is not None


handlers = [
    (r"/files/(?P<path>.+)", FilesHandler),
]
