"""Routes of a file's bytes: raw upload, content by id and a notebook rendered as HTML (design 3.5, 3.10).

- ``POST /api/files/upload``: the body is the file; headers name it and its folder
  (:class:`FileUploadHandler`), ``?on_conflict=fail|rename|overwrite``.
- ``GET/HEAD /api/files/{id}/content``: the bytes, with Range, ETag and ``?download=1`` exactly as
  ``/files/<path>`` serves them (the same StaticFileHandler machinery).
- ``GET /api/files/{id}/html``: the notebook through nbconvert's HTML exporter, sandboxed.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import re
from typing import Any, Awaitable, Callable
from urllib.parse import unquote

from tornado.http1connection import HTTP1Connection
from tornado.iostream import IOStream

from nbserver.base.bodyreader import replace_fixed_body_reader
from nbserver.base.urls import url_path_join
from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput, NotFound, PayloadTooLarge, error_for_os_error
from nbserver.pages.files import StreamedFileMixin
from nbserver.services.files.api_base import FilesAPIHandler, check_name
from nbserver.services.files.manager import FileServices
from nbserver.services.files.rendering import sandbox_policy
from nbserver.services.files.splicing import can_splice
from nbserver.services.files.upload import ON_CONFLICT, StagedUpload, UploadStream

#: Bytes read from the socket at once, and handed to ``data_received`` at most, during an upload
#: (tornado's default for every connection is 64 KB: fine for JSON, 16 times the calls for a file).
UPLOAD_READ_BYTES = 1024 * 1024


def read_body_in_larger_chunks(handler: Any, size: int) -> Callable[[], None]:
    """Let this request's connection read ``size`` bytes at a time (HTTP/1 only); returns the undo.

    The connection gets its own copy of the server's HTTP/1 parameters, so other connections
    keep tornado's default chunk size (every socket read allocates a chunk-sized buffer); the
    undo gives a kept-alive connection its defaults back for its next request.
    """
    connection = handler.request.connection
    if not isinstance(connection, HTTP1Connection):
        return lambda: None
    params, read_chunk_size = connection.params, connection.stream.read_chunk_size
    larger = copy.copy(params)
    larger.chunk_size = size
    connection.params = larger
    connection.stream.read_chunk_size = min(size, connection.stream.max_buffer_size // 2)

    def undo() -> None:
        connection.params = params
        connection.stream.read_chunk_size = read_chunk_size
    return undo


def read_known_length_body(handler: Any, stream: UploadStream, splice: bool = False) -> Callable[[], None] | None:
    """Have ``stream.read_body`` read this request's ``Content-Length`` body (HTTP/1 only); returns the undo.

    tornado reads a body of known length in chunks it allocates and copies twice before
    ``data_received`` sees them; this request's reader (:mod:`nbserver.base.bodyreader`) puts the
    socket's bytes straight into the upload's buffers (``IOStream.read_into``). With ``splice``, a
    plain TCP connection's body is moved by the kernel instead (``UploadStream.splice_body``) when
    the stream is idle as the body starts (no ``100-continue`` still being written). None
    (tornado's reader stays, and ``data_received`` gets the body) for chunked or encoded bodies, a
    length past ``max_body_size`` (answered 413 as it streams in), or a tornado without that reader.
    """

    async def read_fixed_body(source: IOStream, content_length: int, delegate: object) -> None:
        if splice and can_splice(source):
            await stream.splice_body(source, content_length)
        else:
            await stream.read_body(source, content_length)

    return replace_fixed_body_reader(handler, read_fixed_body, handler.max_body_size)


#: RFC 8187 section 3.2.1: ext-value = charset "'" [ language ] "'" value-chars; UTF-8 only here.
RFC8187_UTF8 = re.compile(r"utf-8'[a-z0-9-]*'", re.IGNORECASE)


def header_text(value: str, header: str) -> str:
    """A header's text, percent-decoded UTF-8; RFC 8187's ``UTF-8'[language]'...`` form and raw
    UTF-8 bytes too.

    InvalidInput (``invalid_field``, naming ``header``) for bytes that are not UTF-8, or another charset.
    """
    extended = RFC8187_UTF8.match(value)
    if extended is not None:
        value = value[extended.end():]
    try:
        # Tornado hands header bytes over as Latin-1 text: take them back to bytes, read UTF-8.
        text = value.encode("latin-1").decode("utf-8")
        return unquote(text, errors="strict")
    except UnicodeError:
        raise InvalidInput(f"{header} must be UTF-8, percent-encoded (or RFC 8187's UTF-8''... form).",
                           code="invalid_field") from None


class FileUploadHandler(FilesAPIHandler):
    """``POST /api/files/upload``: the body streams into a staging file in the target folder.

    Headers (``Plotly-*`` aliases accepted so that chart_studio scripts port easily):
    ``X-File-Name`` (required), ``Nbserver-Parent-Path`` and/or ``Nbserver-Parent`` (a folder
    id or ``root``; default: the root), ``Nbserver-World-Readable`` (``true``/``false``; ``false``
    takes the link of a file the upload overwrites away, and without the header it keeps its link).
    201 with the File and ``Location``; 400 bad headers or an unreadable notebook, 404 no such
    folder, 409 ``name_conflict``, 413 past ``max_body_size`` (nothing is left behind).
    """

    upload: StagedUpload | None = None
    stream: UploadStream | None = None
    #: The ``World-Readable`` header's value; None without one (an overwritten file keeps its link).
    world_readable: bool | None = None
    _undo_read_size: Callable[[], None] | None = None

    def header(self, name: str) -> str | None:
        """Header ``Nbserver-<name>`` or its alias ``Plotly-<name>``; InvalidInput when both differ."""
        values = {header_text(value, key) for key in (f"Nbserver-{name}", f"Plotly-{name}")
                  if (value := self.request.headers.get(key)) is not None}
        if len(values) > 1:
            raise InvalidInput(f"Nbserver-{name} and Plotly-{name} differ.", code="invalid_field")
        return values.pop() if values else None

    async def prepare(self) -> None:
        super().prepare()
        if self.request.method != "POST":
            return
        raw_name = self.request.headers.get("X-File-Name")
        if raw_name is None or not raw_name.strip():
            raise InvalidInput("X-File-Name is required: the name of the uploaded file.", code="invalid_field")
        services = self.file_services
        name = check_name(header_text(raw_name, "X-File-Name"), bool(services.contents_manager.allow_hidden),
                          "X-File-Name")
        on_conflict = self.get_query_argument("on_conflict", default="fail")
        if on_conflict not in ON_CONFLICT:
            raise InvalidInput(f"'on_conflict' must be one of {', '.join(ON_CONFLICT)}.", code="invalid_field")
        readable = self.header("World-Readable")
        if readable is not None:
            readable = readable.strip().lower()
            if readable not in ("true", "false"):
                raise InvalidInput("Nbserver-World-Readable must be true or false.", code="invalid_field")
            self.world_readable = readable == "true"
        folder = await self.folder()
        self.authorize_path(posixpath.join(folder, name))
        if self.world_readable:
            services.shares.check_enabled()
        upload = services.new_upload(folder, name, on_conflict)
        await run_blocking(upload.open)
        self.upload = upload
        self.stream = UploadStream(upload)
        self._undo_read_size = (read_known_length_body(self, self.stream, services.upload_splice)
                                or read_body_in_larger_chunks(self, UPLOAD_READ_BYTES))

    async def folder(self) -> str:
        """The target folder from the parent headers, read as ``parent`` / ``parent_path`` of a PATCH
        are (they must agree; NotFound if it is not a live folder); the root by default."""
        folder = await self.folder_in({"parent": self.header("Parent"), "parent_path": self.header("Parent-Path")})
        return folder if folder is not None else ""

    def data_received(self, chunk: bytes) -> Awaitable[None] | None:  # type: ignore[override]
        """Pass the body to the upload's stream; tornado awaits what it returns before reading on
        (so a slow disk slows the client down, and memory holds at most two write batches)."""
        stream = self.stream
        if stream is None or self._body_too_large:
            return None
        self._body_size += len(chunk)
        if self._body_size > self.max_body_size:
            self._body_too_large = True
            stream.abort()
            return None
        return stream.feed(chunk)

    async def post(self) -> None:
        upload, stream = self.upload, self.stream
        assert upload is not None and stream is not None
        if self._body_too_large:
            raise PayloadTooLarge(f"The upload is larger than {self.max_body_size} bytes.")
        try:
            await stream.finish()
        except OSError as exc:
            raise error_for_os_error(exc, "save", upload.path) from exc
        try:
            model, _ = await run_blocking(upload.commit)
        except OSError as exc:
            raise error_for_os_error(exc, "save", upload.path) from exc
        await upload.manager.notify_saved(model["path"])  # search indexes it like a save
        services = self.file_services
        record = await services.record_for_path(model["path"])
        if self.world_readable is not None and self.world_readable != record.world_readable:
            # true gives the file a link; false takes away the link of a file this upload overwrote
            await services.shares.set_world_readable(record, self.world_readable,
                                                     self.current_user.username if self.current_user
                                                     else services.owner)
            record = await services.resolve(record.id)
        self.authorize_path(record.path)
        answer = await self.file_json(record)
        if model.get("message"):
            answer["message"] = model["message"]
        self.set_header("Location", url_path_join(self.base_url, "api/files", record.id))
        self.set_header("ETag", f'"{record.id}-{record.version}"')
        self.finish_json(answer, 201)

    def on_connection_close(self) -> None:
        if self.upload is not None:
            self.upload.abort()
        super().on_connection_close()

    def on_finish(self) -> None:
        if self.upload is not None:
            self.upload.abort()  # a failed request leaves nothing behind (a no-op after a commit)
        if self._undo_read_size is not None:
            self._undo_read_size()


class FileContentHandler(FilesAPIHandler, StreamedFileMixin):
    """``GET/HEAD /api/files/{id}/content``: a live file's bytes; a folder is 400, a trashed file 404."""

    def initialize(self, **kwargs: Any) -> None:  # type: ignore[override]
        FilesAPIHandler.initialize(self)
        StreamedFileMixin.initialize(self)

    async def get(self, file_id: str, include_body: bool = True) -> None:
        record = await self.resolve(file_id)
        if record.state != "live":
            raise NotFound("A trashed file has no content to serve; restore it first.", code="not_found")
        if record.kind == "directory":
            raise InvalidInput("A folder has no content; list it with /api/contents.", code="is_a_directory")
        await self.serve_file(self.file_services.contents_manager, record.path, include_body)

    async def head(self, file_id: str) -> None:
        await self.get(file_id, include_body=False)


class FileHTMLHandler(FilesAPIHandler):
    """``GET /api/files/{id}/html``: the notebook rendered, under a sandboxing CSP (opaque origin)."""

    async def get(self, file_id: str, include_body: bool = True) -> None:
        record = await self.resolve(file_id)
        services = self.file_services
        body = await services.renderer.html(record)
        send_rendered(self, services, body, frame_ancestors="'self'", include_body=include_body)

    async def head(self, file_id: str) -> None:
        await self.get(file_id, include_body=False)


def send_rendered(handler: Any, services: FileServices, body: bytes, frame_ancestors: str,
                  include_body: bool = True) -> None:
    """Finish ``handler`` with a rendered notebook and its sandboxing headers; 304 Not Modified,
    without the body, when the request's ``If-None-Match`` names the page's entity tag (RFC 9110
    section 13.1.2)."""
    handler.set_header("Content-Type", "text/html; charset=UTF-8")
    handler.set_header("Content-Security-Policy", sandbox_policy(services.render_allow_scripts, frame_ancestors))
    # Set here, not computed by finish: a handler that also streams files computes ETags from its open file
    # (and tornado's finish checks If-None-Match only against a tag it computed itself).
    handler.set_header("ETag", f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    if handler.check_etag_header():
        handler.set_status(304)
        handler.finish()
        return
    handler.set_header("Content-Length", str(len(body)))
    handler.finish(body if include_body else None)


handlers = [
    (r"/api/files/upload", FileUploadHandler),
    (r"/api/files/(?P<file_id>[^/]+)/content", FileContentHandler),
    (r"/api/files/(?P<file_id>[^/]+)/html", FileHTMLHandler),
]
