"""``/nbconvert/<format>/<path>``: a notebook exported by nbconvert, shown or downloaded.

Conversion is CPU work and runs in the thread pool. HTML exports are served under a
sandboxing Content-Security-Policy: a notebook's outputs never run script here.
"""

from __future__ import annotations

from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput
from nbserver.pages.base import PageBase
from nbserver.pages.files import SANDBOX_CSP, content_disposition
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.nbconvert.exporting import ConversionFailed, export_notebook

__all__ = ["ConversionFailed", "NbconvertFileHandler", "export_notebook", "handlers"]


class NbconvertFileHandler(PageBase):
    """Export the notebook at ``path``; ``?download=1`` sends it as an attachment.

    It shows a notebook's contents, so it needs ``contents:read``, and it runs an exporter,
    so it needs ``nbconvert:read`` too, as Jupyter Server's ``/api/nbconvert`` listing does.
    """

    auth_resource = "contents"

    def permissions_needed(self) -> list[tuple[str, str]]:
        return [*super().permissions_needed(), ("nbconvert", "read")]

    async def get(self, format: str, path: str) -> None:
        path = normalize_api_path(path)
        if not path.endswith(".ipynb"):
            raise InvalidInput("Only notebooks (.ipynb) can be converted.")
        model = await self.contents_manager.get(path, type="notebook")
        body, mimetype, filename = await run_blocking(export_notebook, format, model["content"],
                                                      model["name"])
        if mimetype.startswith("text/") or mimetype.endswith(("json", "+xml")):
            mimetype += "; charset=UTF-8"
        self.set_header("Content-Type", mimetype)
        self.set_header("Content-Security-Policy", SANDBOX_CSP)
        self.set_header("Cache-Control", "no-store")
        download = self.get_query_argument("download", default="0") not in ("0", "")
        if download or mimetype.startswith("application/zip"):
            self.set_header("Content-Disposition", content_disposition("attachment", filename))
        else:
            self.set_header("Content-Disposition", content_disposition("inline", filename))
        self.finish(body)


handlers = [
    (r"/nbconvert/(?P<format>[\w-]+)/(?P<path>.+)", NbconvertFileHandler),
]
