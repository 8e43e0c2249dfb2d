"""Running an nbconvert exporter on a notebook model: used by ``/nbconvert`` and rendered files."""

from __future__ import annotations

import io
import logging
import posixpath
import zipfile
from typing import Any

from nbserver.errors import NbserverError, NotFound

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
