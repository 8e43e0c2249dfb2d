"""reStructuredText and Markdown documents rendered to HTML, with settings safe for untrusted text.

reStructuredText goes through docutils with nothing that reaches outside the text: no file
insertion (``include``, ``csv-table :file:``, ``raw :file:``/``:url:``), no ``raw`` directive,
no configuration files read, and no system messages in the output (report level 5, "none");
a *severe* problem (docutils level 4, such as inconsistent section levels) stops the rendering
with :class:`DocumentUnprocessable`. See docutils' "Docutils Configuration" for each setting.

Markdown goes through markdown-it-py's CommonMark preset with raw HTML off: tags in the text
come out escaped, and link targets other than http(s), mailto, relative and images' data: URLs
are refused by its ``validateLink``. Callers still serve the result sandboxed, as any user HTML.
"""

from __future__ import annotations

import io
import posixpath
from typing import Callable

from nbserver.errors import InvalidInput, NbserverError

#: docutils settings for text from users (docutils.frontend names).
SAFE_DOCUTILS_SETTINGS = {
    "file_insertion_enabled": False,
    "raw_enabled": False,
    "_disable_config": True,
    "report_level": 5,
    "halt_level": 4,
    "traceback": True,
    "input_encoding": "unicode",
    "output_encoding": "unicode",
    "embed_stylesheet": False,
    "stylesheet_path": "",
    "syntax_highlight": "none",
}


class DocumentUnprocessable(NbserverError):
    """The text is well-formed UTF-8 but the markup cannot be rendered (RFC 9110, 15.5.21)."""

    status_code = 422
    reason = "Unprocessable Entity"


def render_rst(text: str) -> str:
    """The HTML body (a fragment) of a reStructuredText document; DocumentUnprocessable on a severe error."""
    from docutils.core import publish_parts
    from docutils.utils import SystemMessage
    from docutils.writers.html5_polyglot import Writer

    settings = dict(SAFE_DOCUTILS_SETTINGS, warning_stream=io.StringIO())
    try:
        parts = publish_parts(text, writer=Writer(), settings_overrides=settings)
    except SystemMessage as exc:
        raise DocumentUnprocessable(f"The reStructuredText cannot be rendered: {exc}.") from None
    return str(parts["html_body"])


def render_markdown(text: str) -> str:
    """The HTML of a CommonMark document (with tables and strikethrough), raw HTML escaped."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"]).render(text))


#: Renderer of each document format, and the file extensions that select it.
RENDERERS: dict[str, Callable[[str], str]] = {"rst": render_rst, "markdown": render_markdown}
EXTENSIONS = {".rst": "rst", ".rest": "rst", ".md": "markdown", ".markdown": "markdown"}


def format_for_path(path: str) -> str:
    """The document format of a file name; InvalidInput for other files."""
    document_format = EXTENSIONS.get(posixpath.splitext(path)[1].lower())
    if document_format is None:
        raise InvalidInput(f"Only {', '.join(sorted(EXTENSIONS))} files can be rendered.")
    return document_format


def render_document(document_format: str, text: str) -> str:
    """Render ``text`` as ``document_format`` ("rst" or "markdown"); InvalidInput for another format."""
    renderer = RENDERERS.get(document_format)
    if renderer is None:
        raise InvalidInput(f"'format' must be one of {', '.join(RENDERERS)}.")
    return renderer(text)
