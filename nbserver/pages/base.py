"""The base of the HTML pages: authentication, jinja2 rendering and HTML error pages."""

from __future__ import annotations

import functools
import logging
from typing import Any

import jinja2

from nbserver import __version__
from nbserver.base.handlers import PageHandler, error_status_and_message, set_allow_header
from nbserver.services.contents.manager import ContentsManager

log = logging.getLogger("nbserver")


@functools.lru_cache(maxsize=4)
def template_environment(template_path: str) -> jinja2.Environment:
    """One jinja2 environment per template folder; autoescaping on for every template."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_path),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


class PageBase(PageHandler):
    """A server-rendered page: PageHandler's login and XSRF, plus jinja2 and a styled error page."""

    @property
    def contents_manager(self) -> ContentsManager:
        return self.settings["contents_manager"]  # type: ignore[no-any-return]

    def render_template(self, template_name: str, **context: Any) -> str:
        template = template_environment(self.settings["template_path"]).get_template(template_name)
        return template.render(
            base_url=self.base_url,
            static_url=self.static_url,
            version=__version__,
            **context,
        )

    def finish_page(self, template: str, **context: Any) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(self.render_template(template, **context))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """The styled error page; PageHandler's plain one if the template itself fails."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, message, reason = error_status_and_message(exc, status_code)
        try:
            page = self.render_template("error.html", status=status, reason=reason, message=message,
                                        page_title=f"{status} {reason}")
        except Exception:  # a broken template must not hide the original error
            log.exception("Rendering the error page failed")
            super().write_error(status_code, **kwargs)
            return
        self.set_status(status)
        set_allow_header(self, status)
        self.clear_header("Content-Disposition")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(page)
