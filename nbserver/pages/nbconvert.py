"""``/nbconvert/<format>/<path>``: a notebook exported by nbconvert, shown or downloaded.

Conversion is CPU work and runs in the thread pool. HTML exports are served under a
sandboxing Content-Security-Policy: a notebook's outputs never run script here.
"""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
from typing import Any

from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput, NbserverError, NotFound
from nbserver.pages.base import PageBase
from nbserver.pages.files import SANDBOX_CSP, content_disposition
from nbserver.services.contents.fileio import normalize_api_path

log = logging.getLogger("nbserver")


class ConversionFailed(NbserverError):
    status_code = 500
    reason = "Conversion Failed"


def export_notebook(format: str, notebook: dict[str, Any], name: str) -> tuple[bytes, str, str]:
    """Run exporter ``format`` on a notebook model: (body, media type, file name).

    When the export has extra files (extracted images) the result is a zip of all.
    """
    import nbformat
    from nbconvert.exporters import get_export_names, get_exporter
    from nbconvert.utils.pandoc import PandocMissing

    if format not in get_export_names():
        raise NotFound(f"No exporter named {format!r}; GET /api/nbconvert lists them.")
    stem = posixpath.splitext(name)[0]
    try:
        exporter = get_exporter(format)()
        node = nbformat.from_dict(notebook)
        output, resources = exporter.from_notebook_node(node, resources={"metadata": {"name": stem}})
    except NbserverError:
        raise
    except PandocMissing:
        raise ConversionFailed(
            f"Exporting to {format} needs pandoc, which is not installed on the server."
        ) from None
    except Exception as exc:  # exporters raise anything: pandoc missing, template errors...
        log.warning("nbconvert export of %s to %s failed", name, format, exc_info=True)
        raise ConversionFailed(
            f"nbconvert could not export this notebook to {format} ({type(exc).__name__}).",
            log_detail=str(exc),
        ) from None
    body = output if isinstance(output, bytes) else output.encode("utf-8")
    filename = stem + resources.get("output_extension", "")
    extra_files: dict[str, bytes] = resources.get("outputs") or {}
    if extra_files:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(filename, body)
            for extra_name, data in extra_files.items():
                archive.writestr(extra_name, data)
        return buffer.getvalue(), "application/zip", stem + ".zip"
    mimetype = exporter.output_mimetype or "application/octet-stream"
    return body, mimetype, filename


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
