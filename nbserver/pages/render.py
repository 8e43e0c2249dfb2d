"""``/rstservice/render``: a reStructuredText or Markdown document as an HTML page.

``GET ?path=<file.rst|.md>`` renders a file of the contents store; ``POST`` renders the
request body (UTF-8 text; ``?format=rst`` (the default) or ``markdown``). The answer is a
whole HTML document in the page style, served like any user HTML: ``Content-Security-Policy:
sandbox``, so even a link with a ``javascript:`` target cannot run script in this origin.
Errors are JSON, as from the REST API: 400 for a wrong file kind or format or text that is
not UTF-8, 404 for a missing file, 422 for markup docutils stops at (see
:mod:`nbserver.pages.documents` for the safe settings).
"""

from __future__ import annotations

import posixpath
from typing import ClassVar, Mapping

from nbserver.auth.authorizer import METHOD_ACTIONS
from nbserver.base.handlers import APIHandler
from nbserver.blocking import run_blocking
from nbserver.errors import InvalidInput
from nbserver.pages.base import template_environment
from nbserver.pages.documents import format_for_path, render_document
from nbserver.pages.files import SANDBOX_CSP
from nbserver.services.contents.fileio import normalize_api_path
from nbserver.services.contents.manager import ContentsManager


class RenderDocumentHandler(APIHandler):
    """Render a document; both methods only read (POST carries the text, it stores nothing)."""

    auth_resource = "contents"
    auth_actions: ClassVar[Mapping[str, str]] = {**METHOD_ACTIONS, "POST": "read"}

    @property
    def contents_manager(self) -> ContentsManager:
        return self.settings["contents_manager"]  # type: ignore[no-any-return]

    @property
    def content_security_policy(self) -> str:
        return SANDBOX_CSP

    async def get(self) -> None:
        path = normalize_api_path(self.get_query_argument("path", default=""))
        document_format = format_for_path(path)
        model = await self.contents_manager.get(path, type="file", format="text")
        await self.finish_document(document_format, model["content"], posixpath.basename(path))

    async def post(self) -> None:
        document_format = self.get_query_argument("format", default="rst")
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("The document must be UTF-8 text.") from None
        await self.finish_document(document_format, text, "Document")

    async def finish_document(self, document_format: str, text: str, title: str) -> None:
        body = await run_blocking(render_document, document_format, text)
        template = template_environment(self.settings["template_path"]).get_template("rendered.html")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(template.render(title=title, body=body, static_url=self.static_url,
                                    document_format=document_format))


handlers = [
    (r"/rstservice/render", RenderDocumentHandler),
]
