"""``/login`` and ``/logout``: the password (or token) form and the end of a browser session."""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

import jinja2
from tornado import web

from nbserver import __version__
from nbserver.auth.authorizer import PUBLIC
from nbserver.auth.redirects import safe_next_path
from nbserver.base.handlers import PageHandler

log = logging.getLogger("nbserver")


@functools.lru_cache(maxsize=4)
def login_templates(template_path: str) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(template_path), autoescape=True)


class LoginHandler(PageHandler):
    """The login form: GET shows it, POST checks the password (or token) and starts a session."""

    auth_resource = PUBLIC

    def set_default_headers(self) -> None:
        super().set_default_headers()
        # Not "no-referrer": with it, browsers send "Origin: null" on the form's POST, which
        # the origin check must refuse. "same-origin" still keeps the URL from other sites.
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Cache-Control", "no-store")

    def next_path(self) -> str:
        """Where to go after logging in: ``next`` if it is a path on this server, else the dashboard."""
        candidate = self.get_argument("next", default="")
        return safe_next_path(candidate, self.base_url) or self.base_path("tree")

    def render_form(self, message: str = "", status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        template = login_templates(self.settings["template_path"]).get_template("login.html")
        self.finish(template.render(
            base_url=self.base_url,
            static_url=self.static_url,
            version=__version__,
            page_title="Log in",
            message=message,
            next_path=self.next_path(),
            xsrf_form_html=self.xsrf_form_html,
            login_available=self.identity_provider.login_available,
            has_password=bool(self.identity_provider.hashed_password),
        ))

    def get(self) -> None:
        if self.current_user is not None:
            self.redirect(self.next_path())
            return
        self.render_form()

    def post(self) -> None:
        provider = self.identity_provider
        client = self.request.remote_ip or "unknown"
        wait = provider.login_limiter.retry_after(client)
        if wait > 0:
            log.warning("Login from %s refused: too many failed attempts", client)
            self.set_header("Retry-After", str(math.ceil(wait)))
            self.render_form(f"Too many failed attempts. Try again in {math.ceil(wait)} seconds.", 429)
            return
        secret = self.get_body_argument("password", default="")
        if provider.login_available and provider.secret_matches(secret):
            provider.login_limiter.reset(client)
            provider.set_login_cookie(self)
            log.info("Login from %s", client)
            self.redirect(self.next_path(), status=303)
            return
        provider.login_limiter.record_failure(client)
        log.warning("Failed login from %s", client)
        self.render_form("Wrong password or token.", 401)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code == 403 and self.request.method == "POST" and "XSRF" in str(exc):
            # Most often an expired or missing _xsrf cookie: offer a fresh form.
            self.render_form("The form expired; please try again.", 403)
            return
        super().write_error(status_code, **kwargs)


class LogoutHandler(PageHandler):
    """Ends the browser session and goes back to the login page."""

    auth_resource = PUBLIC

    def get(self) -> None:
        self.identity_provider.clear_login_cookie(self)
        self.redirect(self.base_path("login"))

    def post(self) -> None:
        self.get()


handlers: list[tuple[str, type[web.RequestHandler]]] = [
    (r"/login", LoginHandler),
    (r"/logout", LogoutHandler),
]
