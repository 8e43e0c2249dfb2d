"""``GET /api/external?source=`` (render) and ``POST /api/files/import`` (save a copy): design section 3.11.

Both need the ``external`` permission (``read`` to render, ``write`` to import); import also needs
``contents:write`` on the path it creates. The rendered page is served under a sandboxing
Content-Security-Policy without ``allow-scripts`` or ``allow-same-origin``: it runs nothing and
gets an opaque origin, so it cannot reach this server's API or cookies.
"""

from __future__ import annotations

import posixpath
from typing import Any

from nbserver.auth.identity import User
from nbserver.base.handlers import APIHandler, JSONErrorsMixin
from nbserver.errors import Conflict, InvalidInput, TooManyRequests
from nbserver.services.external.manager import ExternalNotebooks, import_name
from nbserver.services.files.handlers import FilesAPIHandler, check_name

#: External pages: scripts, forms, plugins and same-origin access all off; styles and images inline
#: or from https only, no connections, no <base> rewrites, framed only by this server's pages.
EXTERNAL_CSP = ("sandbox; default-src 'none'; img-src data: https:; style-src 'unsafe-inline' https:; "
                "font-src data: https:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'")
IMPORT_FIELDS = frozenset({"source", "parent_path", "parent", "name", "on_conflict"})


class ExternalHandlerBase(JSONErrorsMixin):
    """The external service and the 429's ``Retry-After`` for both routes."""

    @property
    def external(self) -> ExternalNotebooks:
        service: ExternalNotebooks = self.settings["external_notebooks"]
        return service

    def username(self) -> str:
        user: User | None = self.current_user
        return user.username if user is not None else ""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, TooManyRequests):
            self.set_header("Retry-After", str(exc.retry_after))
        super().write_error(status_code, **kwargs)


class ExternalRenderHandler(ExternalHandlerBase, APIHandler):
    """``GET /api/external?source=<http(s) URL>``: the notebook there, rendered, sandboxed, without scripts."""

    auth_resource = "external"

    async def get(self) -> None:
        source = self.get_query_argument("source", default="")
        html = await self.external.render(self.username(), source)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Content-Security-Policy", EXTERNAL_CSP)
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.finish(html)


class ImportHandler(ExternalHandlerBase, FilesAPIHandler):
    """``POST /api/files/import {"source", "parent_path" | "parent", "name"?, "on_conflict"?}``: 201 File.

    ``on_conflict`` is ``fail`` (default: 409 ``name_conflict`` when the name is taken) or
    ``rename`` (``name-1.ipynb``...). Errors as ``/api/external``, plus 404 for a missing folder.
    """

    def permissions_needed(self) -> list[tuple[str, str]]:
        return [*super().permissions_needed(), ("external", "write")]

    async def post(self) -> None:
        body = self.get_json_object_body() or {}
        unknown = sorted(set(body) - IMPORT_FIELDS)
        if unknown:
            raise InvalidInput(f"Unknown field '{unknown[0]}'.", code="invalid_field", field=unknown[0])
        source = body.get("source")
        if not isinstance(source, str):
            raise InvalidInput("'source' is required: the http(s) URL of a notebook.", code="source_invalid")
        on_conflict = body.get("on_conflict", "fail")
        if on_conflict not in ("fail", "rename"):
            raise InvalidInput("'on_conflict' must be 'fail' or 'rename'.", code="invalid_field")
        folder = await self.folder(body)
        contents = self.file_services.contents_manager
        name = (check_name(body["name"], bool(contents.allow_hidden)) if body.get("name") is not None
                else import_name(source))
        path = posixpath.join(folder, name)
        self.authorize_path(path)
        if on_conflict == "fail" and await contents.exists(path):
            raise Conflict("A file with this name exists.", code="name_conflict", conflict_path=path)
        nb = await self.external.fetch_notebook(self.username(), source)
        if on_conflict == "rename":
            path = posixpath.join(folder, await contents.increment_filename(name, folder, insert="-"))
            self.authorize_path(path)
        try:
            await contents.save({"type": "notebook", "format": "json", "content": nb}, path, must_create=True)
        except Conflict:
            raise Conflict("A file with this name exists.", code="name_conflict", conflict_path=path) from None
        record = await self.file_services.record_for_path(path)
        await self.file_services.add_edge(source, record.id, "import")  # shows in its sources (checklist 47)
        self.set_header("Location", self.base_path("api/files", record.id))
        await self.finish_file(record, 201)

    async def folder(self, body: dict[str, Any]) -> str:
        """The folder to save in: ``parent`` / ``parent_path`` as ``PATCH /api/files/{id}`` takes them,
        the root by default."""
        folder = await self.folder_in(body)
        return folder if folder is not None else ""


handlers = [
    (r"/api/external", ExternalRenderHandler),
    (r"/api/files/import", ImportHandler),
]
