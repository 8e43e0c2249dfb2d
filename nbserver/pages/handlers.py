"""The pages a person uses: ``/`` and ``/tree`` (dashboard), ``/notebooks``, ``/edit`` and ``/view``.

The pages are thin: the server renders the frame, escapes every name in it, and
hands the scripts the base URL and path; the scripts then talk to the REST API.
"""

from __future__ import annotations

import posixpath
from typing import Any

from tornado import web

from nbserver.base.urls import url_escape_path, url_path_join
from nbserver.errors import NotFound
from nbserver.pages.base import PageBase
from nbserver.pages.documents import EXTENSIONS as DOCUMENT_EXTENSIONS
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import guess_mimetype

PATH_REGEX = r"(?P<path>(?:/[^/]*)*)"

#: What /view shows inline, by media type prefix; everything else links to /files.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", "image/bmp")


def breadcrumbs(path: str) -> list[dict[str, str]]:
    """(name, API path) of every folder from the root down to ``path``."""
    crumbs = [{"name": "Home", "path": ""}]
    parts = [part for part in path.split("/") if part]
    for index, part in enumerate(parts):
        crumbs.append({"name": part, "path": "/".join(parts[: index + 1])})
    return crumbs


def is_text_like(path: str) -> bool:
    """Whether the editor suits the file: text types, or no known type at all."""
    mimetype = guess_mimetype(path)
    if mimetype is None:
        return True
    return mimetype.startswith("text/") or mimetype in (
        "application/json", "application/javascript", "application/x-sh", "application/xml",
        "application/x-python-code", "application/toml", "application/x-yaml", "application/yaml",
    )


class RootRedirectHandler(PageBase):
    """``/``: the dashboard lives at ``/tree``."""

    auth_resource = "contents"

    def get(self) -> None:
        self.redirect(self.base_path("tree"))


class PathPageHandler(PageBase):
    """A page about one path: normalises it and builds links to its other pages."""

    auth_resource = "contents"

    def page_url(self, prefix: str, path: str) -> str:
        return url_path_join(self.base_url, prefix, url_escape_path(path))

    def common_context(self, path: str) -> dict[str, Any]:
        return {
            "path": path,
            "name": posixpath.basename(path),
            "dir_path": posixpath.dirname(path),
            "breadcrumbs": breadcrumbs(path),
            "page_url": self.page_url,
        }


class TreeHandler(PathPageHandler):
    """``/tree/<path>``: the dashboard of a folder; a file path redirects to its page."""

    def deletes_to_trash(self) -> bool:
        """Whether Delete moves to the server's trash (the page says so, and offers Undo)."""
        return bool(getattr(self.contents_manager, "delete_to_trash", False)
                    and self.settings.get("file_services") is not None)

    def trash_context(self) -> dict[str, Any]:
        """The Trash view's switch and the retention it states (days; 0 keeps items until emptied)."""
        services = self.settings.get("file_services")
        if services is None:
            return {"trash_enabled": False}
        return {"trash_enabled": True, "trash_retention_days": f"{services.trash_retention_days:g}"}

    async def get(self, path: str = "") -> None:
        path = normalize_api_path(path)
        manager = self.contents_manager
        if await manager.dir_exists(path):
            self.finish_page("tree.html", page_title=(posixpath.basename(path) or "Home"),
                             terminals_enabled=self.settings.get("terminal_manager") is not None,
                             delete_to_trash=self.deletes_to_trash(), **self.trash_context(),
                             **self.common_context(path))
            return
        if await manager.file_exists(path):
            if path.endswith(".ipynb"):
                prefix = "notebooks"
            else:
                prefix = "edit" if is_text_like(path) else "view"
            self.redirect(self.page_url(prefix, path))
            return
        raise NotFound(f"No such file or directory: {path}")


class NotebookPageHandler(PathPageHandler):
    """``/notebooks/<path>``: the notebook editor; ``?print`` gives a print view, ``?copy`` opens
    a duplicate (by way of ``/copy/<path>``, see :mod:`nbserver.pages.actions`)."""

    async def get(self, path: str) -> None:
        path = normalize_api_path(path)
        if self.get_query_argument("copy", default=None) is not None:
            self.redirect(self.page_url("copy", path))
            return
        if await self.contents_manager.dir_exists(path):
            self.redirect(self.page_url("tree", path))
            return
        if not await self.contents_manager.file_exists(path):
            raise NotFound(f"No such notebook: {path}")
        print_view = self.get_query_argument("print", default=None) is not None
        # The page asks for the notebook while its scripts load (see notebook.html), not after.
        notebook_url = url_path_join(self.base_url, "api/contents", url_escape_path(path)) + "?type=notebook"
        self.finish_page("notebook.html", page_title=posixpath.basename(path), print_view=print_view,
                         notebook_url=notebook_url, **self.common_context(path))


class EditPageHandler(PathPageHandler):
    """``/edit/<path>``: a plain text editor for any file."""

    async def get(self, path: str) -> None:
        path = normalize_api_path(path)
        if not await self.contents_manager.file_exists(path):
            raise NotFound(f"No such file: {path}")
        self.finish_page("edit.html", page_title=posixpath.basename(path), **self.common_context(path))


class ViewPageHandler(PathPageHandler):
    """``/view/<path>``: a file shown in the page: image, PDF, HTML in a sandboxed frame, or an
    .rst or .md document rendered in one."""

    async def get(self, path: str) -> None:
        path = normalize_api_path(path)
        if not await self.contents_manager.file_exists(path):
            raise NotFound(f"No such file: {path}")
        mimetype = guess_mimetype(path) or ""
        if mimetype in IMAGE_TYPES:
            kind = "image"
        elif mimetype == "application/pdf":
            kind = "pdf"
        elif mimetype in ("text/html", "application/xhtml+xml"):
            kind = "html"
        elif posixpath.splitext(path)[1].lower() in DOCUMENT_EXTENSIONS:
            kind = "document"  # rendered by /rstservice/render (pages/render.py), sandboxed
        elif is_text_like(path):
            kind = "text"
        else:
            kind = "other"
        self.finish_page("view.html", page_title=posixpath.basename(path), kind=kind,
                         **self.common_context(path))


handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (r"/?", RootRedirectHandler),
    (rf"/tree{PATH_REGEX}/?", TreeHandler),
    (rf"/notebooks{PATH_REGEX}", NotebookPageHandler),
    (rf"/edit{PATH_REGEX}", EditPageHandler),
    (rf"/view{PATH_REGEX}", ViewPageHandler),
]
