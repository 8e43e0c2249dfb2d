"""Page routes of the classic notebook server that act, then redirect: ``/new`` and ``/copy``.

``/new?path=<folder>&kernel=<name>`` creates an untitled notebook in ``folder`` (with that
kernel's spec in its metadata) and opens it; ``/copy/<path>`` (and ``/notebooks/<path>?copy``)
duplicates a file as the contents API's POST ``copy_from`` does and opens the copy.
They are GETs that write, as in the classic server, so they need ``contents:write`` (and
``contents:read``, as they open the file) and refuse being reached from another site (a link
there must not create files here).
"""

from __future__ import annotations

import posixpath
from typing import Any

from nbserver.errors import Forbidden, NotFound
from nbserver.pages.handlers import PATH_REGEX, PathPageHandler
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.kernelspecs.handlers import kernelspec_source
from nbserver.services.contents.notebooks import empty_notebook


def kernelspec_metadata(model: dict[str, Any]) -> dict[str, str]:
    """The ``metadata.kernelspec`` of a new notebook (nbformat 4: name, display_name, language)
    from a kernelspec model as ``/api/kernelspecs/<name>`` gives it."""
    spec = model.get("spec") or {}
    return {"name": str(model["name"]), "display_name": str(spec.get("display_name", model["name"])),
            "language": str(spec.get("language", ""))}


class ActionPageHandler(PathPageHandler):
    """A page GET that writes and then shows what it wrote: ``contents:read`` and ``contents:write``,
    same-origin or typed-in navigations only."""

    def permissions_needed(self) -> list[tuple[str, str]]:
        return [("contents", "read"), ("contents", "write")]

    def check_same_site(self) -> None:
        """403 for a navigation another site started (Fetch Metadata ``Sec-Fetch-Site``)."""
        site = self.request.headers.get("Sec-Fetch-Site", "").lower()
        if site in ("cross-site", "same-site"):
            raise Forbidden("This page creates a file: open it from this server, not from another site.")

    def open_page(self, path: str) -> None:
        """Redirect to the page of a new file: the notebook editor, or the dashboard's choice."""
        self.redirect(self.page_url("notebooks" if path.endswith(".ipynb") else "tree", path))


class NewNotebookHandler(ActionPageHandler):
    """``/new?path=<folder>&kernel=<name>``: an untitled notebook in ``folder``, opened."""

    async def get(self) -> None:
        self.check_same_site()
        folder = normalize_api_path(self.get_query_argument("path", default=""))
        kernel_name = self.get_query_argument("kernel", default="")
        content = empty_notebook()
        if kernel_name:  # NotFound for a kernel that is not installed (here or on the gateway)
            model = await kernelspec_source(self.settings).model(self.base_url, kernel_name)
            content["metadata"]["kernelspec"] = kernelspec_metadata(model)
        model = await self.contents_manager.new_untitled(folder, type="notebook", content=content)
        self.open_page(model["path"])


class CopyPageHandler(ActionPageHandler):
    """``/copy/<path>``: a duplicate of the file beside it (``name-Copy1.ext``), opened."""

    async def get(self, path: str) -> None:
        await self.copy_and_open(path)

    async def copy_and_open(self, path: str) -> None:
        self.check_same_site()
        path = normalize_api_path(path)
        if not await self.contents_manager.file_exists(path):
            raise NotFound(f"No such file: {path}")
        model = await self.contents_manager.copy(path, posixpath.dirname(path))
        self.open_page(model["path"])


handlers = [
    (r"/new/?", NewNotebookHandler),
    (rf"/copy{PATH_REGEX}", CopyPageHandler),
]
